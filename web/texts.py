"""User-facing texts in one place. German is the default; English can follow as a
second dictionary with the same keys."""

from __future__ import annotations

DEFAULT_LANGUAGE = "de"

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "skip_to_content": "Zum Inhalt springen",
        "security_event.login_not_me": "Anmeldeanfrage gemeldet: „Das war ich nicht“",
        "security_event.login_number_wrong": "Anmeldung abgebrochen: falsche Zahl in der Zwei-Faktor-App",
        "home.title": "Startseite",
        "home.welcome": "Herzlich Willkommen",
        "home.intro": "Hier verwalten Sie den Zugang Ihrer Organisation zum Portal.",
        "nav.main": "Hauptnavigation",
        "nav.footer": "Service und Informationen",
        "footer.help": "Hilfe",
        "footer.accessibility": "Barrierefreiheit",
        "footer.report_barrier": "Barriere melden",
        "footer.app_download": "Download Zwei-Faktor-Authentifizierung",
        "footer.contact": "Kontakt",
        "footer.dev_mailbox": "Entwicklungs-Postfach",
        "error.title": "Es ist ein Fehler aufgetreten",
        "error.heading.login": "Bitte melden Sie sich an",
        "error.heading.forbidden": "Kein Zugriff",
        "error.heading.not_found": "Seite nicht gefunden",
        "error.heading.csrf": "Bitte laden Sie die Seite neu",
        "error.not_found": "Diese Seite gibt es nicht.",
        "error.forbidden": "Sie haben keinen Zugriff auf diese Seite.",
        "error.login_required": "Bitte melden Sie sich an, um diese Seite zu sehen.",
        "error.csrf": "Ihre Sitzung ist abgelaufen oder das Formular ist veraltet. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.",
        "error.method": "Diese Aktion ist hier nicht möglich.",
        "error.bad_request": "Die Anfrage ist ungültig.",
        "error.too_large": "Die Anfrage ist zu groß.",
        "error.conflict": "Der Datensatz wurde gerade an anderer Stelle geändert. Bitte laden Sie die Seite neu.",
        "error.request_id": "Fehlernummer (bitte bei Rückfragen angeben):",
        "error.unavailable": "Der Dienst ist vorübergehend nicht erreichbar. Bitte versuchen Sie es in einigen Minuten erneut.",
        "error.flow_updated": "Der Ablauf wurde gerade in einer neuen Version veröffentlicht. Bitte laden Sie die Seite in einem Moment neu.",
        "error.internal": "Ein unerwarteter Fehler ist aufgetreten. Bitte versuchen Sie es später erneut.",
        "error.back_home": "Zur Startseite",
        "health.ok": "Betriebsbereit",
        "dev_mailbox.title": "Entwicklungs-Postfach",
        "dev_mailbox.intro": "Solange kein Mailserver eingerichtet ist, landen die E-Mails des Portals hier statt beim Empfänger. Diese Seite gibt es nur in der Entwicklungsumgebung.",
        "dev_mailbox.empty": "Es sind noch keine E-Mails eingegangen.",
        "dev_mailbox.caption": "Eingegangene E-Mails, die neueste zuerst",
        "dev_mailbox.recipient": "Empfänger",
        "dev_mailbox.subject": "Betreff",
        "dev_mailbox.received": "Eingegangen",
        "dev_mailbox.message_id": "Message-ID",
        "dev_mailbox.text_part": "Textfassung",
        "dev_mailbox.html_part": "HTML-Fassung öffnen",
        "dev_mailbox.back": "Zurück zum Entwicklungs-Postfach",
        # Zwei-Faktor-App (web/static/app/app.js). The input checks repeat the server's
        # messages word for word (tests/integration/test_companion.py compares them).
        "app.message.terms_required": "Bitte akzeptieren Sie die Nutzungsbedingungen der App.",
        "app.message.username_required": "Bitte geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein.",
        "app.message.code_format": "Der Aktivierungscode besteht aus 8 Ziffern, zum Beispiel 2748 0323.",
        "app.message.pin_format": "Der PIN-Code muss aus genau 6 Ziffern bestehen.",
        "app.message.pin_mismatch": "Die beiden PIN-Eingaben stimmen nicht überein.",
        "app.message.pin_trivial": "Dieser PIN-Code ist zu leicht zu erraten. Bitte wählen Sie einen anderen.",
        "app.message.offline": "Keine Verbindung zum Server. Bitte prüfen Sie Ihre Internetverbindung und versuchen Sie es erneut.",
        "app.message.offline_polling": "Keine Verbindung zum Server. Die App versucht es weiter.",
        "app.message.server_error": "Der Dienst antwortet gerade nicht wie erwartet. Bitte versuchen Sie es später erneut.",
        "app.message.unsupported": "Dieser Browser kann keinen sicheren Geräteschlüssel erzeugen oder speichern. Bitte öffnen Sie die App über eine sichere Verbindung (https) in einem aktuellen Browser und nicht im privaten Modus.",
        "app.message.storage_failed": "Die App konnte die Aktivierung auf diesem Gerät nicht speichern. Bitte lassen Sie sich im Portal einen neuen Aktivierungscode anzeigen und aktivieren Sie die App erneut.",
        "app.message.checking_code": "Der Aktivierungscode wird geprüft …",
        "app.message.activating": "Das Gerät wird aktiviert …",
        "app.message.activated": "Gerät aktiviert.",
        "app.message.unlocked": "App entsperrt. Offene Anmeldungen erscheinen hier von selbst.",
        "app.message.locked_by_user": "App gesperrt. Der PIN-Code ist vergessen.",
        "app.message.auto_locked": "Die App wurde nach einigen Minuten ohne Eingabe gesperrt.",
        "app.message.new_request": "Neue Anmeldung von {time} Uhr wartet, {browser}. Zum Bestätigen geben Sie die Zahl von der Anmeldeseite ein.",
        "app.message.requested_at": "Anmeldung von {time} Uhr",
        "app.message.request_origin": "{browser}, IP-Adresse {ip}",
        "app.message.number_label": "Zahl von der Anmeldeseite",
        "app.message.number_hint": "6 Ziffern, die Ihnen das Portal im Browser zeigt, zum Beispiel 482 913.",
        "app.message.number_format": "Bitte geben Sie die 6 Ziffern ein, die Ihnen die Anmeldeseite im Browser zeigt.",
        "app.message.approve": "Bestätigen",
        "app.message.not_me": "Das war ich nicht",
        "app.message.not_me_done": "Gemeldet: Das waren nicht Sie. Neue Anmeldungen für Ihr Konto sind jetzt für einige Minuten gesperrt, und Ihr Admin sieht die Meldung.",
        "app.message.sending": "Die Antwort wird gesendet …",
        "app.message.approved": "Anmeldung bestätigt. Sie können im Portal weiterarbeiten.",
        "app.message.denied": "Anmeldung abgelehnt.",
        "app.message.reset_done": "Die App ist zurückgesetzt.",
    },
}



def text(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    """The text for key; a missing key shows itself, so it is noticed in review and tests."""
    return TEXTS.get(language, TEXTS[DEFAULT_LANGUAGE]).get(key) or TEXTS[DEFAULT_LANGUAGE].get(key, key)
