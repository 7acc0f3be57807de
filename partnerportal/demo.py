"""The embedded default: a migrated SQLite file with a demo organisation and its admin."""

from __future__ import annotations

from db import flow_snapshots
from db.engine import Database
from db.migrate import upgrade
from db.tables import Account, FlowInstance, Organisation
from partnerportal.settings import Settings
from workflows.registry import FlowRegistry
from workflows.service import FlowService

DEMO_ORGANISATION = "Demo-Pflegedienst Sonnenschein"
DEMO_ADMIN = {"salutation": "Frau", "first_name": "Berta", "last_name": "Apoll", "email": "admin@demo-pflegedienst.example"}


async def prepare_demo(db: Database, settings: Settings) -> list[str]:
    """Idempotent: running it again changes nothing that exists."""
    await upgrade(db)
    registry = FlowRegistry.from_directory(settings.flows_dir or None)
    await flow_snapshots.sync(db, registry)
    organisation_id = await _ensure_organisation(db)
    account_id = await _ensure_admin(db, organisation_id)
    existing = await db.fetch_one(FlowInstance.select(FlowInstance.id).where(FlowInstance.account == account_id))
    if existing is None:
        await FlowService(db, registry).start(
            "onboarding", organisation_id, account_id, actor="cli:demo", recipient=DEMO_ADMIN["email"]
        )
    return [
        f"Demo organisation: {DEMO_ORGANISATION}",
        f"Demo admin: {DEMO_ADMIN['first_name']} {DEMO_ADMIN['last_name']} <{DEMO_ADMIN['email']}> (invited)",
        f"Database: {settings.database_url}",
    ]


async def _ensure_organisation(db: Database) -> int:
    row = await db.fetch_one(Organisation.select(Organisation.id).where(Organisation.name == DEMO_ORGANISATION))
    if row:
        return row["id"]
    result = await db.write([Organisation.insert(Organisation(name=DEMO_ORGANISATION)).returning(Organisation.id)])
    return result[0][0]["id"]


async def _ensure_admin(db: Database, organisation_id: int) -> int:
    row = await db.fetch_one(
        Account.select(Account.id).where((Account.organisation == organisation_id) & (Account.email == DEMO_ADMIN["email"]))
    )
    if row:
        return row["id"]
    result = await db.write(
        [Account.insert(Account(organisation=organisation_id, role="admin", **DEMO_ADMIN)).returning(Account.id)]
    )
    return result[0][0]["id"]
