"""Mails from templates, in their recipient's language: one text and one HTML template
per kind in mail/templates/, subjects in mail/texts.py. Rendering needs no request: the
outbox job sends them and the web app shows them (development mailbox, detail view)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core import i18n
from core.portal_name import PortalName
from mail.texts import CONTINUE_BUTTON, SUBJECTS, role_label
from workflows.actions import MAIL_KINDS

TEMPLATE_DIR = Path(__file__).parent / "templates"

# Mails whose purpose is to bring the person back to the registration: they carry a
# fresh invitation link ("Registrierung fortsetzen").
LINK_KINDS = frozenset({"invitation", "reminder", "registration_status", "registration_summary"})

@functools.cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        # HTML parts are escaped; text parts are plain text and must not be.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # {% trans %} and _() in the language current while rendering (the recipient's).
    i18n.install_gettext(environment)
    return environment


@dataclass(frozen=True)
class MailValues:
    """What a mail may say. `link` is set only for LINK_KINDS."""

    portal_name: str
    organisation_name: str = ""
    portal_name_gender: str = "neuter"
    role: str = ""  # the account's role ("staff", "admin"), said as the manual says it
    primary_color: str = "#1f4e79"  # the brand's colour, for the button
    link: str | None = None
    validity_hours: int | None = None
    expires_at: datetime | None = None
    event_at: datetime | None = None
    language: str = "de"  # the recipient's (core/i18n.py codes)


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def subject(kind: str, names: dict[str, str]) -> str:
    return str(SUBJECTS[kind]) % names


def render_mail(kind: str, values: MailValues) -> RenderedMail:
    if kind not in MAIL_KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    with i18n.language(values.language):
        return _render(kind, values)


def _render(kind: str, values: MailValues) -> RenderedMail:
    names = PortalName(values.portal_name, values.portal_name_gender).forms()
    mail_subject = subject(kind, names)
    context = {
        **names,
        "subject": mail_subject,
        "portal_name": values.portal_name,
        "role_label": role_label(values.role),
        "primary_color": values.primary_color,
        "organisation_name": values.organisation_name,
        "link": values.link,
        "validity_hours": values.validity_hours,
        "expires_at": local_time(values.expires_at),
        "event_at": local_time(values.event_at),
        "button_label": str(CONTINUE_BUTTON),
    }
    return RenderedMail(
        subject=mail_subject,
        text=_environment().get_template(f"{kind}.txt").render(context),
        html=_environment().get_template(f"{kind}.html").render(context),
    )


def local_time(value: datetime | None) -> str:
    """'05.02.2026, 10:00 Uhr' / '5 Feb 2026, 10:00' in German time, per the current language."""
    if value is None:
        return ""
    return i18n.format_datetime(value)
