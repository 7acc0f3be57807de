"""User-facing texts in one place. German is the default; English can follow as a
second dictionary with the same keys."""

from __future__ import annotations

DEFAULT_LANGUAGE = "de"

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "skip_to_content": "Zum Inhalt springen",
        "home.title": "Startseite",
        "home.welcome": "Herzlich Willkommen",
        "home.intro": "Hier verwalten Sie den Zugang Ihrer Organisation zum Portal.",
        "nav.main": "Hauptnavigation",
        "nav.footer": "Service und Informationen",
        "footer.help": "Hilfe",
        "footer.accessibility": "Barrierefreiheit",
        "footer.report_barrier": "Barriere melden",
        "footer.app_download": "Download Zwei-Faktor-Authentifizierung",
        "footer.dev_mailbox": "Entwicklungs-Postfach",
        "error.title": "Es ist ein Fehler aufgetreten",
        "error.not_found": "Diese Seite gibt es nicht.",
        "error.forbidden": "Sie haben keinen Zugriff auf diese Seite.",
        "error.csrf": "Ihre Sitzung ist abgelaufen oder das Formular ist veraltet. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.",
        "error.method": "Diese Aktion ist hier nicht möglich.",
        "error.bad_request": "Die Anfrage ist ungültig.",
        "error.conflict": "Der Datensatz wurde gerade an anderer Stelle geändert. Bitte laden Sie die Seite neu.",
        "error.unavailable": "Der Dienst ist vorübergehend nicht erreichbar. Bitte versuchen Sie es in einigen Minuten erneut.",
        "error.internal": "Ein unerwarteter Fehler ist aufgetreten. Bitte versuchen Sie es später erneut.",
        "error.back_home": "Zur Startseite",
        "health.ok": "Betriebsbereit",
    },
}


def text(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    """The text for key; a missing key shows itself, so it is noticed in review and tests."""
    return TEXTS.get(language, TEXTS[DEFAULT_LANGUAGE]).get(key) or TEXTS[DEFAULT_LANGUAGE].get(key, key)
