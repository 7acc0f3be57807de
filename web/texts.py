"""User-facing texts the templates and the app's script ask for by key. The values are
German msgids, translated by gettext in the current language when shown (core/i18n.py);
new texts are better written with `{% trans %}` or `_()` right where they appear."""

from __future__ import annotations

from core.i18n import lazy_gettext

TEXTS = {
    "skip_to_content": lazy_gettext("Zum Inhalt springen"),
    "security_event.login_not_me": lazy_gettext("Anmeldeanfrage gemeldet: „Das war ich nicht“"),
    "security_event.login_number_wrong": lazy_gettext("Anmeldung abgebrochen: falsche Zahl in der Zwei-Faktor-App"),
    "home.title": lazy_gettext("Startseite"),
    "home.welcome": lazy_gettext("Herzlich Willkommen"),
    "home.intro": lazy_gettext("Hier verwalten Sie den Zugang Ihrer Organisation zum Portal."),
    "nav.main": lazy_gettext("Hauptnavigation"),
    "nav.footer": lazy_gettext("Service und Informationen"),
    "footer.help": lazy_gettext("Hilfe"),
    "footer.accessibility": lazy_gettext("Barrierefreiheit"),
    "footer.report_barrier": lazy_gettext("Barriere melden"),
    "footer.app_download": lazy_gettext("Download Zwei-Faktor-Authentifizierung"),
    "footer.contact": lazy_gettext("Kontakt"),
    "footer.dev_mailbox": lazy_gettext("Entwicklungs-Postfach"),
    "error.title": lazy_gettext("Es ist ein Fehler aufgetreten"),
    "error.heading.login": lazy_gettext("Bitte melden Sie sich an"),
    "error.heading.forbidden": lazy_gettext("Kein Zugriff"),
    "error.heading.not_found": lazy_gettext("Seite nicht gefunden"),
    "error.heading.csrf": lazy_gettext("Bitte laden Sie die Seite neu"),
    "error.not_found": lazy_gettext("Diese Seite gibt es nicht."),
    "error.forbidden": lazy_gettext("Sie haben keinen Zugriff auf diese Seite."),
    "error.login_required": lazy_gettext("Bitte melden Sie sich an, um diese Seite zu sehen."),
    "error.csrf": lazy_gettext("Ihre Sitzung ist abgelaufen oder das Formular ist veraltet. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal."),
    "error.method": lazy_gettext("Diese Aktion ist hier nicht möglich."),
    "error.bad_request": lazy_gettext("Die Anfrage ist ungültig."),
    "error.too_large": lazy_gettext("Die Anfrage ist zu groß."),
    "error.conflict": lazy_gettext("Der Datensatz wurde gerade an anderer Stelle geändert. Bitte laden Sie die Seite neu."),
    "error.request_id": lazy_gettext("Fehlernummer (bitte bei Rückfragen angeben):"),
    "error.unavailable": lazy_gettext("Der Dienst ist vorübergehend nicht erreichbar. Bitte versuchen Sie es in einigen Minuten erneut."),
    "error.flow_updated": lazy_gettext("Der Ablauf wurde gerade in einer neuen Version veröffentlicht. Bitte laden Sie die Seite in einem Moment neu."),
    "error.internal": lazy_gettext("Ein unerwarteter Fehler ist aufgetreten. Bitte versuchen Sie es später erneut."),
    "error.back_home": lazy_gettext("Zur Startseite"),
    "health.ok": lazy_gettext("Betriebsbereit"),
    "dev_mailbox.title": lazy_gettext("Entwicklungs-Postfach"),
    "dev_mailbox.intro": lazy_gettext("Solange kein Mailserver eingerichtet ist, landen die E-Mails des Portals hier statt beim Empfänger. Diese Seite gibt es nur in der Entwicklungsumgebung."),
    "dev_mailbox.empty": lazy_gettext("Es sind noch keine E-Mails eingegangen."),
    "dev_mailbox.caption": lazy_gettext("Eingegangene E-Mails, die neueste zuerst"),
    "dev_mailbox.recipient": lazy_gettext("Empfänger"),
    "dev_mailbox.subject": lazy_gettext("Betreff"),
    "dev_mailbox.received": lazy_gettext("Eingegangen"),
    "dev_mailbox.message_id": lazy_gettext("Message-ID"),
    "dev_mailbox.text_part": lazy_gettext("Textfassung"),
    "dev_mailbox.html_part": lazy_gettext("HTML-Fassung öffnen"),
    "dev_mailbox.back": lazy_gettext("Zurück zum Entwicklungs-Postfach"),
    # Zwei-Faktor-App (web/static/app/app.js). The input checks repeat the server's
    # messages word for word (tests/integration/test_companion.py compares them).
    "app.message.terms_required": lazy_gettext("Bitte akzeptieren Sie die Nutzungsbedingungen der App."),
    "app.message.username_required": lazy_gettext("Bitte geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein."),
    "app.message.code_format": lazy_gettext("Der Aktivierungscode besteht aus 8 Ziffern, zum Beispiel 2748 0323."),
    "app.message.pin_format": lazy_gettext("Der PIN-Code muss aus genau 6 Ziffern bestehen."),
    "app.message.pin_mismatch": lazy_gettext("Die beiden PIN-Eingaben stimmen nicht überein."),
    "app.message.pin_trivial": lazy_gettext("Dieser PIN-Code ist zu leicht zu erraten. Bitte wählen Sie einen anderen."),
    "app.message.offline": lazy_gettext("Keine Verbindung zum Server. Bitte prüfen Sie Ihre Internetverbindung und versuchen Sie es erneut."),
    "app.message.offline_polling": lazy_gettext("Keine Verbindung zum Server. Die App versucht es weiter."),
    "app.message.server_error": lazy_gettext("Der Dienst antwortet gerade nicht wie erwartet. Bitte versuchen Sie es später erneut."),
    "app.message.unsupported": lazy_gettext("Dieser Browser kann keinen sicheren Geräteschlüssel erzeugen oder speichern. Bitte öffnen Sie die App über eine sichere Verbindung (https) in einem aktuellen Browser und nicht im privaten Modus."),
    "app.message.storage_failed": lazy_gettext("Die App konnte die Aktivierung auf diesem Gerät nicht speichern. Bitte lassen Sie sich im Portal einen neuen Aktivierungscode anzeigen und aktivieren Sie die App erneut."),
    "app.message.checking_code": lazy_gettext("Der Aktivierungscode wird geprüft …"),
    "app.message.activating": lazy_gettext("Das Gerät wird aktiviert …"),
    "app.message.activated": lazy_gettext("Gerät aktiviert."),
    "app.message.unlocked": lazy_gettext("App entsperrt. Offene Anmeldungen erscheinen hier von selbst."),
    "app.message.locked_by_user": lazy_gettext("App gesperrt. Der PIN-Code ist vergessen."),
    "app.message.auto_locked": lazy_gettext("Die App wurde nach einigen Minuten ohne Eingabe gesperrt."),
    "app.message.new_request": lazy_gettext("Neue Anmeldung von {time} Uhr wartet, {browser}. Zum Bestätigen geben Sie die Zahl von der Anmeldeseite ein."),
    "app.message.requested_at": lazy_gettext("Anmeldung von {time} Uhr"),
    "app.message.request_origin": lazy_gettext("{browser}, IP-Adresse {ip}"),
    "app.message.number_label": lazy_gettext("Zahl von der Anmeldeseite"),
    "app.message.number_hint": lazy_gettext("6 Ziffern, die Ihnen das Portal im Browser zeigt, zum Beispiel 482 913."),
    "app.message.number_format": lazy_gettext("Bitte geben Sie die 6 Ziffern ein, die Ihnen die Anmeldeseite im Browser zeigt."),
    "app.message.approve": lazy_gettext("Bestätigen"),
    "app.message.not_me": lazy_gettext("Das war ich nicht"),
    "app.message.not_me_done": lazy_gettext("Gemeldet: Das waren nicht Sie. Neue Anmeldungen für Ihr Konto sind jetzt für einige Minuten gesperrt, und Ihr Admin sieht die Meldung."),
    "app.message.sending": lazy_gettext("Die Antwort wird gesendet …"),
    "app.message.approved": lazy_gettext("Anmeldung bestätigt. Sie können im Portal weiterarbeiten."),
    "app.message.denied": lazy_gettext("Anmeldung abgelehnt."),
    "app.message.reset_done": lazy_gettext("Die App ist zurückgesetzt."),
}


def text(key: str) -> str:
    """The text for key in the current language; a missing key shows itself, so it is
    noticed in review and tests."""
    found = TEXTS.get(key)
    return str(found) if found is not None else key
