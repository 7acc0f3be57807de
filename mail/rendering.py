"""Mails from templates, in their recipient's language: one text and one HTML template
per kind in mail/templates/, subjects in mail/texts.py. Rendering needs no request: the
outbox job sends them and the web app shows them (development mailbox, detail view)."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup, escape

from core import i18n
from core.portal_name import PortalName
from mail.texts import CONTINUE_BUTTON, SUBJECTS, role_label
from workflows.actions import MAIL_KINDS

TEMPLATE_DIR = Path(__file__).parent / "templates"
LEICHTE_SPRACHE_DIR = "leichte_sprache"

# Mails whose purpose is to bring the person back to the registration: they carry a
# fresh invitation link ("Registrierung fortsetzen").
LINK_KINDS = frozenset({"invitation", "reminder", "registration_status", "registration_summary"})

# Where a long link may wrap in the HTML part (<wbr>), in characters.
LINK_WRAP = 20
# What stands in for the link while a mail is rendered once for many recipients: digits
# only, so escaping leaves it as it is, and random, so no other value of a mail holds it.
_LINK_STAND_IN = str(secrets.randbits(160)).zfill(49)
# Pieces of it that survive any wrapping every 16 or more characters: if one is left
# after the link took its place, a template changed the link in an unforeseen way.
_STAND_IN_PIECES = tuple(_LINK_STAND_IN[start:start + 8] for start in range(0, 48, 8))


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
        # The templates ship with the package: no stat() of every file on every render.
        auto_reload=False,
    )
    environment.filters["wrap_points"] = wrap_points
    # {% trans %} and _() in the language current while rendering (the recipient's).
    i18n.install_gettext(environment)
    return environment


@functools.cache
def _template(name: str) -> Template:
    """A template compiled once per process: the outbox renders thousands of mails a
    second and should not look them up for each."""
    return _environment().get_template(name)


def wrap_points(value: str, width: int = LINK_WRAP) -> Markup:
    """`value` escaped, with <wbr> every `width` characters: a long address can wrap on a
    phone. In Python, because Jinja's batch/join filters took half of a mail's rendering."""
    return Markup("<wbr>").join(value[start:start + width] for start in range(0, len(value), width))


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
        expires_at, event_at = local_time(values.expires_at), local_time(values.event_at)
        if values.link is None:
            return _render(kind, values, expires_at, event_at)
        return _with_link(kind, values, expires_at, event_at)


def _with_link(kind: str, values: MailValues, expires_at: str, event_at: str) -> RenderedMail:
    """Rendering the templates is the costliest step of sending a mail (~0.3 ms), and the
    mails of a batch differ mostly in their link: render once per kind, values and
    displayed times with a stand-in for the link, then put each link in its place."""
    shape = _rendered_with_stand_in(kind, replace(values, link=_LINK_STAND_IN, expires_at=None, event_at=None),
                                    expires_at, event_at)
    link = values.link
    mail = RenderedMail(
        subject=shape.subject,
        text=shape.text.replace(_LINK_STAND_IN, link),
        html=shape.html.replace(str(wrap_points(_LINK_STAND_IN)), str(wrap_points(link)))
        .replace(_LINK_STAND_IN, str(escape(link))),
    )
    if any(piece in mail.text or piece in mail.html for piece in _STAND_IN_PIECES):
        return _render(kind, values, expires_at, event_at)  # a template treats the link otherwise
    return mail


@functools.lru_cache(maxsize=256)
def _rendered_with_stand_in(kind: str, values: MailValues, expires_at: str, event_at: str) -> RenderedMail:
    return _render(kind, values, expires_at, event_at)


def _render(kind: str, values: MailValues, expires_at: str, event_at: str) -> RenderedMail:
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
        "expires_at": expires_at,
        "event_at": event_at,
        "button_label": str(CONTINUE_BUTTON),
    }
    return RenderedMail(
        subject=mail_subject,
        text=_template(_template_name(kind, ".txt")).render(context),
        html=_template(_template_name(kind, ".html")).render(context),
    )


def _template_name(kind: str, suffix: str) -> str:
    """A mail written whole in Leichte Sprache (templates/leichte_sprache/) where one
    exists and the mail goes out in it; otherwise the mail with the catalog's texts."""
    name = f"{kind}{suffix}"
    if i18n.current_language() == i18n.LEICHTE_SPRACHE and (TEMPLATE_DIR / LEICHTE_SPRACHE_DIR / name).is_file():
        return f"{LEICHTE_SPRACHE_DIR}/{name}"
    return name


def local_time(value: datetime | None) -> str:
    """'05.02.2026, 10:00 Uhr' / '5 Feb 2026, 10:00' in German time, per the current language."""
    if value is None:
        return ""
    # Shown to the minute: the mails of a batch mostly share it, and Babel takes ~20 us.
    return _local_minute(value.replace(second=0, microsecond=0), i18n.current_language())


@functools.lru_cache(maxsize=1024)
def _local_minute(minute: datetime, language: str) -> str:
    return i18n.format_datetime(minute)
