"""The mails' German subjects and names; the bodies are templates in mail/templates/."""

from __future__ import annotations

SUBJECTS: dict[str, str] = {
    "invitation": "Ihre Einladung {zum_portal}",
    "reminder": "Erinnerung: Ihre Registrierung {beim_portal}",
    "registration_status": "Status Ihrer Registrierung: Aktivierung Ihres Zugangs",
    "registration_summary": "Ihre Registrierung",
    "device_bound": "Neues Gerät für Ihren Zugang {zum_portal}",
    "invitation_expired": "Ihre Einladung {zum_portal} ist abgelaufen",
}

CONTINUE_BUTTON = "Registrierung fortsetzen"

# Names of the mails, as the admin's detail view lists them.
MAIL_LABELS: dict[str, str] = {
    "invitation": "Einladung",
    "reminder": "Erinnerung",
    "registration_status": "Status Ihrer Registrierung: Aktivierung Ihres Zugangs",
    "registration_summary": "Ihre Registrierung",
    "device_bound": "Gerät registriert",
    "invitation_expired": "Einladung abgelaufen",
}

# The account's role as the manual names it ("eingeladen als Leistungserbringer (Mitarbeiter)").
ROLE_LABELS: dict[str, str] = {
    "staff": "Leistungserbringer (Mitarbeiter)",
    "admin": "Leistungserbringer (Administrator)",
}


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, "")
