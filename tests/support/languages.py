"""The labels browser tests look for, per language: tests are written with the German
label (the source text) and ask `labels(language)` for the one the page shows.

The English column is written out here, not looked up in the catalog: a test that read
its expectations from core/locale would pass whatever the catalog said."""

from __future__ import annotations

from collections.abc import Callable

# The browser's Accept-Language for each language of the portal.
BROWSER_LOCALES = {"de": "de-DE", "en": "en-GB"}

ENGLISH = {
    # Start page, user management, invitation
    "Herzlich Willkommen, Berta Apoll.": "Welcome, Berta Apoll.",
    "Herzlich Willkommen, Bernhard Tester.": "Welcome, Bernhard Tester.",
    "Postfach": "Inbox",
    "Nutzerverwaltung": "User management",
    "Keine Einträge gefunden.": "No entries found.",
    "Nutzer anlegen": "Create user",
    "Nutzer einladen": "Invite user",
    "Anrede": "Title",
    "Vorname": "First name",
    "Nachname": "Last name",
    "E-Mail": "Email",
    "Einladen": "Invite",
    "Sprache der Einladung": "Language of the invitation",
    "Herr Bernhard Tester": "Mr Bernhard Tester",
    # The app's messages
    "Gerät aktiviert.": "Device activated.",
    "Zahl von der Anmeldeseite": "Number from the sign-in page",
    "Bestätigen": "Confirm",
    "Anmeldung bestätigt. Sie können im Portal weiterarbeiten.": "Sign-in confirmed. You can continue working in the portal.",
    # The invitation mail and the registration wizard
    "720 Stunden": "720 hours",
    "Registrierung fortsetzen": "Continue registration",
    "Persönliche Daten": "Personal details",
    "Telefonnummer (freiwillig)": "Phone number (optional)",
    "Speichern und weiter": "Save and continue",
    "Geräteregistrierung": "Device registration",
    "Weiter": "Continue",
    "Zwei-Faktor-App einrichten": "Set up the two-factor app",
    "Gerät aktivieren": "Activate device",
    "Aktivierungscode anzeigen": "Show activation code",
    "Glückwunsch": "Congratulations",
    "Ihre Registrierung ist abgeschlossen": "Your registration is complete",
    "Jetzt einloggen": "Sign in now",
    # The Zwei-Faktor-App
    "Nutzungsbedingungen": "Terms of use",
    "Ich habe die Nutzungsbedingungen gelesen und akzeptiere diese.": "I have read and accept the terms of use.",
    "Akzeptieren": "Accept",
    "Zugangsdaten eingeben": "Enter your sign-in details",
    "Benutzername / E-Mail Adresse": "Username / email address",
    "Aktivierungscode": "Activation code",
    "PIN-Code festlegen": "Set your PIN",
    "PIN-Code (6 Ziffern)": "PIN (6 digits)",
    "PIN-Code wiederholen": "Repeat PIN",
    "Aktivieren": "Activate",
    "Gerät aktiviert": "Device activated",
    "App entsperren": "Unlock app",
    "PIN-Code": "PIN",
    "Entsperren": "Unlock",
    "Anmeldungen": "Sign-ins",
    # Login, consent, Postfach
    "Anmelden": "Sign in",
    "Benutzername oder E-Mail-Adresse": "Username or email address",
    "Einwilligung in die Datenverarbeitung": "Consent to data processing",
    "Ich willige in die Verarbeitung": "I consent to the processing",
    "Teilnahme- und Nutzungsbedingungen gelesen": "read and accept the terms of participation and use",
    "Ungelesen": "Unread",
    "Zurück zum Postfach": "Back to the inbox",
    "Barrierefreiheit": "Accessibility",
    "Hilfe": "Help",
    "Download Zwei-Faktor-Authentifizierung": "Download two-factor authentication",
    "Kontakt": "Contact",
    "Entwicklungs-Postfach": "Development mailbox",
    # Pages the accessibility test walks through (tests/e2e/test_accessibility_all_pages.py)
    "Barriere melden": "Report a barrier",
    "Seite, auf der die Barriere auftritt (optional)": "Page on which the barrier occurs (optional)",
    "Beschreibung der Barriere": "Description of the barrier",
    "Meldung senden": "Send report",
    "Ablauf der Registrierung": "Registration workflow",
    "CSV-Import": "CSV import",
    "CSV-Datei": "CSV file",
    "Datei prüfen": "Check file",
    "2 Zeilen gelesen": "2 rows read",
    "1 Person jetzt einladen": "Invite 1 person now",
    "Import abgeschlossen": "Import finished",
    "^Aktionen": "^Actions",
    "Aktion nicht möglich": "Action not possible",
    "Dieser Schritt ist gerade nicht möglich": "This step is not possible right now",
    "App zurücksetzen": "Reset app",
    "App zurücksetzen?": "Reset app?",
    "Abbrechen": "Cancel",
    "Profil": "Profile",
    "Suche nach Betreff oder Absender": "Search by subject or sender",
    "Suchen": "Search",
    "Keine Nachrichten": "No messages",
    # The flow studio
    "Abläufe": "Workflows",
    "Neuer Entwurf": "New draft",
    "Ablauf (YAML)": "Workflow (YAML)",
    "Prüfen und speichern": "Check and save",
    "1 Fehler": "1 error",
    "keine Fehler": "no errors",
    "Vorschau": "Preview",
    "Simulation starten": "Start simulation",
    "Aktualisieren": "Refresh",
    "Zurück zur Vorschau": "Back to the preview",
    "im Zeitraum nachgespielt": "replayed for the period",
    "Version 3 veröffentlichen": "Publish version 3",
    "ist veröffentlicht": "has been published",
    "Migrieren von Version 2": "Migrate from version 2",
    "Migration starten": "Start migration",
    "Ziel für „Eingeladen“": "Target for “Invited”",
    "Abgeschlossen": "Finished",
}

# The flow file's labels (workflows/flows/onboarding.yaml, `label: {de: ..., en: ...}`).
FLOW_LABELS = {
    "Eingeladen": "Invited",
    "beantragt": "requested",
    "Erfolgreich abgeschlossen": "Completed successfully",
    "Aktiv": "Active",
    "Einladung widerrufen": "Revoke invitation",
}
ENGLISH.update(FLOW_LABELS)
# The flow studio's list of changes (workflows/flow_diff.py) is German only so far.
ENGLISH["Frist der Einladung: 720 h → 336 h"] = "Frist der Einladung: 720 h → 336 h"

TABLES = {"de": {}, "en": ENGLISH}


def labels(language: str) -> Callable[[str], str]:
    """`say = labels("en"); say("Postfach")` -> "Inbox". German returns the text as given;
    a label missing from another language's table is a KeyError, not a silent German."""
    table = TABLES[language]
    if language == "de":
        return lambda german: german
    return lambda german: table[german]
