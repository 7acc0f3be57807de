"""The embedded default: a migrated SQLite file with a demo organisation and its admin."""

from __future__ import annotations

from db.engine import Database
from db.migrate import upgrade
from partnerportal.settings import Settings
from partnerportal.setup import invite_admin
from workflows.invitations import Person

DEMO_ORGANISATION = "Demo-Pflegedienst Sonnenschein"
DEMO_ADMIN = Person(salutation="Frau", first_name="Berta", last_name="Apoll", email="admin@demo-pflegedienst.example")


async def prepare_demo(db: Database, settings: Settings) -> list[str]:
    """Idempotent: running it again only issues a fresh registration link."""
    await upgrade(db)
    state, link = await invite_admin(db, settings, DEMO_ORGANISATION, DEMO_ADMIN)
    lines = [
        f"Demo organisation: {DEMO_ORGANISATION}",
        f"Demo admin: {DEMO_ADMIN.first_name} {DEMO_ADMIN.last_name} <{DEMO_ADMIN.email}>",
        f"Database: {settings.database_url}",
    ]
    if link:
        lines.append(f"Registration link of the demo admin (open it in a browser): {link}")
    else:
        lines.append(f"The demo admin is registered; log in at {settings.base_url.rstrip('/')}/anmelden")
    if settings.is_development and not settings.smtp_host:
        lines.append(f"Development mailbox (all mails of the portal): {settings.base_url.rstrip('/')}/dev/postfach")
    return lines
