"""Creating an organisation with its first admin, and restoring an admin's access, from
the command line."""

from __future__ import annotations

from collections import deque

from db import links
from workflows import flow_snapshots
from db.accounts import ADMIN_ROLE, PRODUCT_OWNER_ROLE, find_by_email, role_of
from db.engine import Database
from db.tables import Organisation
from core.clock import SystemClock
from core.settings import Settings
from core.signing import Signer
from workflows.definition import FlowDefinition
from workflows.engine import Flow
from workflows.invitations import Person, invite
from workflows.registry import FlowRegistry
from workflows.service import FlowService

ACTOR = "cli:admin-create"
RESTORE_ACTOR = "cli:admin-restore"
OPERATOR_ACTOR = "cli:operator-create"
PROVIDER, OPERATOR = "provider", "operator"


class RestoreRefused(Exception):
    """The account cannot be restored; the message says why and what to do instead."""


class WrongOrganisationKind(Exception):
    """A provider's admin asked for in the operator's organisation, or the other way round."""


async def ensure_organisation(db: Database, name: str, kind: str = PROVIDER) -> int:
    row = await db.fetch_one(Organisation.select(Organisation.id, Organisation.kind).where(Organisation.name == name))
    if row:
        if row["kind"] != kind:
            raise WrongOrganisationKind(
                f"{name!r} is the portal operator's organisation (PARTNERPORTAL_OPERATOR_ORGANISATION); "
                "invite product owners there with: partnerportal operator create"
                if row["kind"] == OPERATOR else
                f"{name!r} is a provider organisation; choose another PARTNERPORTAL_OPERATOR_ORGANISATION"
            )
        return row["id"]
    result = await db.write([Organisation.insert(Organisation(name=name, kind=kind)).returning(Organisation.id)])
    return result[0][0]["id"]


async def invite_admin(db: Database, settings: Settings, organisation: str, person: Person) -> tuple[str, str | None]:
    """Invites the organisation's admin (once) and returns (state, a fresh registration link or None)."""
    return await _invite_once(db, settings, organisation, PROVIDER, person, ADMIN_ROLE, ACTOR)


async def invite_product_owner(db: Database, settings: Settings, person: Person) -> tuple[str, str | None]:
    """Invites a product owner into the operator's organisation (created if new): they
    register and log in like everyone else, and see the flow studio instead of any
    organisation's people. Returns (state, a fresh registration link or None)."""
    return await _invite_once(
        db, settings, settings.operator_organisation, OPERATOR, person, PRODUCT_OWNER_ROLE, OPERATOR_ACTOR
    )


async def _invite_once(
    db: Database, settings: Settings, organisation: str, kind: str, person: Person, role: str, actor: str
) -> tuple[str, str | None]:
    registry = FlowRegistry.from_directory(settings.flows_dir or None, settings.onboarding_flow)
    await flow_snapshots.sync(db, registry)
    service = FlowService(db, registry, SystemClock())
    organisation_id = await ensure_organisation(db, organisation, kind)
    existing = await find_by_email(db, organisation_id, person.email)
    if existing is None or existing["instance"] is None:
        record = await invite(service, organisation_id, person, actor, "", mail_limits=None, role=role)
        instance_id, state, flow = record.id, record.state, service.flow_of(record)
    else:
        instance = existing["instance"]
        instance_id, state = instance["id"], instance["state"]
        flow = registry.get(instance["flow_name"], instance["flow_version"])
    if not flow.has_role(state, "link_open"):
        return state, None
    return state, await _fresh_link(service, settings, instance_id, flow)


async def _fresh_link(service: FlowService, settings: Settings, instance_id: int, flow: Flow) -> str:
    now = service.clock.now()
    token = links.new_token()
    timer = flow.timer_for("expiry")
    expiry = await links.link_expiry(service.db, instance_id, now, timer.after, {timer.event})
    await service.db.write([links.issue_step(instance_id, token, now, expiry)])
    signed = Signer(settings.secret_key).sign("invitation-link", token)
    return f"{settings.base_url.rstrip('/')}/einladung/{signed}"


async def restore_admin(db: Database, settings: Settings, organisation: str, email: str) -> tuple[list[str], str]:
    """Gives an admin who lost access (locked, lost or PIN-locked device, expired link) a
    fresh registration link: runs the admin moves the flow offers towards a state where
    a link works (e.g. unlock, device reset, resend) and returns (events run, link).
    The admin registers their device again; their old device and sessions end."""
    registry = FlowRegistry.from_directory(settings.flows_dir or None, settings.onboarding_flow)
    await flow_snapshots.sync(db, registry)
    service = FlowService(db, registry, SystemClock())
    row = await db.fetch_one(Organisation.select(Organisation.id).where(Organisation.name == organisation))
    if row is None:
        raise RestoreRefused(f"No organisation named {organisation!r}.")
    existing = await find_by_email(db, row["id"], email)
    if existing is None or existing["instance"] is None:
        raise RestoreRefused(f"{email} has no account in {organisation}; invite an admin with: partnerportal admin create")
    if await role_of(db, existing["account_id"]) != ADMIN_ROLE:
        raise RestoreRefused(f"{email} is not an admin of {organisation}.")
    instance_id, state = existing["instance"]["id"], existing["instance"]["state"]
    flow = registry.get(existing["instance"]["flow_name"], existing["instance"]["flow_version"])
    open_states = flow.states_with("link_open")
    events: list[str] = []
    for _ in flow.definition.states:  # a path never needs more moves than there are states
        if state in open_states:
            return events, await _fresh_link(service, settings, instance_id, flow)
        event = next_admin_move(flow.definition, state, open_states)
        if event is None:
            break
        record, _ = await service.send(instance_id, event, actor=RESTORE_ACTOR)
        events.append(event)
        state = record.state
    raise RestoreRefused(
        f"{email} cannot get access again from the state {state!r}; invite another admin with: partnerportal admin create"
    )


def next_admin_move(flow: FlowDefinition, state: str, goals: frozenset[str]) -> str | None:
    """The first admin event on a shortest way from `state` to one of `goals` (breadth
    first over the flow's admin transitions; guards decide at run time, so the caller
    asks again after each move)."""
    first_event: dict[str, str | None] = {state: None}
    queue = deque([state])
    while queue:
        current = queue.popleft()
        for t in flow.transitions:
            if t.trigger != "admin" or current not in t.sources or t.target in first_event:
                continue
            first_event[t.target] = first_event[current] or t.event
            if t.target in goals:
                return first_event[t.target]
            queue.append(t.target)
    return None
