"""Creating an organisation with its first admin from the command line."""

from __future__ import annotations

from datetime import timedelta

from db import flow_snapshots, links
from db.accounts import find_by_email
from db.engine import Database
from db.tables import Organisation
from partnerportal.clock import SystemClock
from partnerportal.settings import Settings
from partnerportal.signing import Signer
from workflows.invitations import Person, invite
from workflows.registry import FlowRegistry
from workflows.service import FlowService

ACTOR = "cli:admin-create"


async def ensure_organisation(db: Database, name: str) -> int:
    row = await db.fetch_one(Organisation.select(Organisation.id).where(Organisation.name == name))
    if row:
        return row["id"]
    result = await db.write([Organisation.insert(Organisation(name=name)).returning(Organisation.id)])
    return result[0][0]["id"]


async def invite_admin(db: Database, settings: Settings, organisation: str, person: Person) -> tuple[str, str | None]:
    """Invites the organisation's admin (once) and returns (state, a fresh registration link or None)."""
    registry = FlowRegistry.from_directory(settings.flows_dir or None)
    await flow_snapshots.sync(db, registry)
    service = FlowService(db, registry, SystemClock())
    organisation_id = await ensure_organisation(db, organisation)
    existing = await find_by_email(db, organisation_id, person.email)
    if existing is None or existing["instance"] is None:
        record = await invite(service, organisation_id, person, ACTOR, "", mail_limits=None, role="admin")
        instance_id, state = record.id, record.state
    else:
        instance_id, state = existing["instance"]["id"], existing["instance"]["state"]
    if state not in links.OPEN_STATES:
        return state, None
    now = service.clock.now()
    token = links.new_token()
    expiry = await links.link_expiry(db, instance_id, now, timedelta(hours=720))
    await db.write([links.issue_step(instance_id, token, now, expiry)])
    signed = Signer(settings.secret_key).sign("invitation-link", token)
    return state, f"{settings.base_url.rstrip('/')}/einladung/{signed}"
