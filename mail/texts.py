"""The mails' subjects and names, translated when a mail is rendered (in its recipient's
language); the bodies are templates in mail/templates/.

`%(zum_portal)s`, `%(beim_portal)s`, ...: the portal's name with its German article
(core/portal_name.py); translations use `%(portal)s`, the bare name."""

from __future__ import annotations

from core.i18n import lazy_gettext

SUBJECTS = {
    "invitation": lazy_gettext("Ihre Einladung %(zum_portal)s"),
    "reminder": lazy_gettext("Erinnerung: Ihre Registrierung %(beim_portal)s"),
    "registration_status": lazy_gettext("Status Ihrer Registrierung: Aktivierung Ihres Zugangs"),
    "registration_summary": lazy_gettext("Ihre Registrierung"),
    "device_bound": lazy_gettext("Neues Gerät für Ihren Zugang %(zum_portal)s"),
    "invitation_expired": lazy_gettext("Ihre Einladung %(zum_portal)s ist abgelaufen"),
}

CONTINUE_BUTTON = lazy_gettext("Registrierung fortsetzen")

# Names of the mails, as the admin's detail view lists them.
MAIL_LABELS = {
    "invitation": lazy_gettext("Einladung"),
    "reminder": lazy_gettext("Erinnerung"),
    "registration_status": lazy_gettext("Status Ihrer Registrierung: Aktivierung Ihres Zugangs"),
    "registration_summary": lazy_gettext("Ihre Registrierung"),
    "device_bound": lazy_gettext("Gerät registriert"),
    "invitation_expired": lazy_gettext("Einladung abgelaufen"),
}

# The account's role as the manual names it ("eingeladen als Leistungserbringer (Mitarbeiter)").
ROLE_LABELS = {
    "staff": lazy_gettext("Leistungserbringer (Mitarbeiter)"),
    "admin": lazy_gettext("Leistungserbringer (Administrator)"),
}


def role_label(role: str) -> str:
    label = ROLE_LABELS.get(role)
    return str(label) if label is not None else ""
