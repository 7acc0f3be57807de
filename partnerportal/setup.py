"""Creating an organisation with its first admin from the command line."""

from __future__ import annotations

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
    registry = FlowRegistry.from_directory(settings.flows_dir or None, settings.onboarding_flow)
    await flow_snapshots.sync(db, registry)
    service = FlowService(db, registry, SystemClock())
    organisation_id = await ensure_organisation(db, organisation)
    existing = await find_by_email(db, organisation_id, person.email)
    if existing is None or existing["instance"] is None:
        record = await invite(service, organisation_id, person, ACTOR, "", limit_per_hour=10_000, role="admin")
        instance_id, state, flow = record.id, record.state, service.flow_of(record)
    else:
        instance = existing["instance"]
        instance_id, state = instance["id"], instance["state"]
        flow = registry.get(instance["flow_name"], instance["flow_version"])
    if not flow.has_role(state, "link_open"):
        return state, None
    now = service.clock.now()
    token = links.new_token()
    timer = flow.timer_for("expiry")
    expiry = await links.link_expiry(db, instance_id, now, timer.after, {timer.event})
    await db.write([links.issue_step(instance_id, token, now, expiry)])
    signed = Signer(settings.secret_key).sign("invitation-link", token)
    return state, f"{settings.base_url.rstrip('/')}/einladung/{signed}"
