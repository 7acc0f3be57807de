"""The embedded default: a migrated SQLite file with a demo organisation and its admin."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

from db.engine import Database
from db.migrate import upgrade
from core.settings import Settings
from partnerportal.setup import invite_admin
from workflows.invitations import Person

DEMO_ORGANISATION = "Demo-Pflegedienst Sonnenschein"
# The demo's fictitious insurer. An operator's own brand (any PARTNERPORTAL_BRAND_* or
# portal name setting) replaces it as a whole.
DEMO_BRAND = {
    "portal_name": "Nordkasse Partnerportal",
    "portal_name_gender": "neuter",
    "brand_logo": str(Path(__file__).parent / "demo_brand" / "logo.svg"),
    "brand_primary_color": "#0b5394",
    "brand_header_text": "Für Leistungserbringer der Nordkasse",
    "brand_footer_text": "© 2026 Nordkasse – eine erfundene Krankenkasse für die Demo dieses Portals",
}
DEMO_ADMIN = Person(salutation="Frau", first_name="Berta", last_name="Apoll", email="admin@demo-pflegedienst.example")


def with_demo_brand(settings: Settings) -> Settings:
    """The demo's brand, unless the operator configured a brand or name of their own."""
    defaults = {f.name: f.default for f in fields(Settings)}
    if any(getattr(settings, name) != defaults[name] for name in DEMO_BRAND):
        return settings
    return replace(settings, **DEMO_BRAND).checked()


async def prepare_demo(db: Database, settings: Settings) -> list[str]:
    """Idempotent: running it again only issues a fresh registration link."""
    await upgrade(db)
    state, link = await invite_admin(db, settings, DEMO_ORGANISATION, DEMO_ADMIN)
    await _demo_messages(db)
    lines = [
        f"Demo organisation: {DEMO_ORGANISATION}",
        f"Demo admin: {DEMO_ADMIN.first_name} {DEMO_ADMIN.last_name} <{DEMO_ADMIN.email}>",
        f"Database: {_without_password(settings.database_url)}",
    ]
    if link:
        lines.append(f"Registration link of the demo admin (open it in a browser): {link}")
    else:
        lines.append(f"The demo admin is registered; log in at {settings.base_url.rstrip('/')}/anmelden")
    if settings.is_development and not settings.smtp_host:
        lines.append(f"Development mailbox (all mails of the portal): {settings.base_url.rstrip('/')}/dev/postfach")
        if settings.dev_mailbox_remote:
            lines.append("It answers every client (PARTNERPORTAL_DEV_MAILBOX_REMOTE is on): "
                         "anyone who reaches this server can read its registration links.")
        else:
            lines.append("It answers only browsers on this machine (loopback addresses); "
                         "PARTNERPORTAL_DEV_MAILBOX_REMOTE=true opens it to other clients.")
    return lines


DEMO_MESSAGES = [
    ("Zahlungsavis 2026-001", "Sehr geehrte Damen und Herren,\n\nfür den Abrechnungszeitraum Januar überweisen wir 12.480,50 EUR. "
     "Die Aufstellung der einzelnen Rechnungen finden Sie in der Anlage.\n\nMit freundlichen Grüßen\nBereich Finanzen"),
    ("Zahlungsavis 2026-002", "Sehr geehrte Damen und Herren,\n\nfür den Abrechnungszeitraum Februar überweisen wir 11.902,10 EUR.\n\n"
     "Mit freundlichen Grüßen\nBereich Finanzen"),
    ("Neue Funktion: Postfach im Portal", "Guten Tag,\n\nab sofort erhalten Sie Zahlungsavise und Mitteilungen hier im Postfach.\n\n"
     "Ihr Portal-Team"),
]


async def _demo_messages(db: Database) -> None:
    from db import postfach
    from db.tables import PostfachMessage
    from core.clock import SystemClock
    from partnerportal.setup import ensure_organisation

    organisation_id = await ensure_organisation(db, DEMO_ORGANISATION)
    if await db.fetch_one(PostfachMessage.select(PostfachMessage.id).where(PostfachMessage.organisation == organisation_id)):
        return
    now = SystemClock().now()
    await db.write([postfach.deliver_step(organisation_id, "Krankenkasse – Bereich Finanzen", subject, body, now)
                    for subject, body in DEMO_MESSAGES])


def _without_password(url: str) -> str:
    """Never print a database password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
