"""Inviting a person: the account, the instance, its history and the invitation
mail's outbox row are written in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from db import accounts
from db.engine import ConflictError, Deferred
from db.instances import InstanceRecord
from workflows.service import FlowService


@dataclass(frozen=True)
class Person:
    salutation: str
    first_name: str
    last_name: str
    email: str


class AlreadyInvited(Exception):
    """The address already has an invitation or account in this organisation."""

    def __init__(self, instance_id: int | None, can_resend: bool):
        self.instance_id, self.can_resend = instance_id, can_resend
        super().__init__("already invited")


class InviteLimitReached(Exception):
    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"more than {limit} invitations in one hour")


def _is_unique_violation(exc: Exception) -> bool:
    name = type(exc).__name__
    return name in ("IntegrityError", "UniqueViolationError") and "unique" in str(exc).lower()


def _admin_may(service: FlowService, instance: dict, role: str) -> bool:
    """Whether the instance's own flow version offers admins the event with `role` now."""
    own = service.registry.get(instance["flow_name"], instance["flow_version"])
    return own.event_for(role) in [t.event for t in own.transitions_for(instance["state"], "admin")]


async def invite(
    service: FlowService, organisation_id: int, person: Person, actor: str, client_ip: str, limit_per_hour: int,
    role: str = "staff",
) -> InstanceRecord:
    db, now = service.db, service.clock.now()
    flow = service.registry.onboarding()
    # Invitations of every version count, whatever their event is called there.
    sent = service.registry.onboarding_events_for("invitation")
    if await accounts.count_recent_events(db, actor, sent, now - timedelta(hours=1)) >= limit_per_hour:
        raise InviteLimitReached(limit_per_hour)
    existing = await accounts.find_by_email(db, organisation_id, person.email)
    if existing is not None:
        instance = existing["instance"]
        can_resend = bool(instance) and _admin_may(service, instance, "invitation_again")
        raise AlreadyInvited(instance["id"] if instance else None, can_resend)
    batch = service.batch()
    record, _ = batch.start(flow.name, organisation_id, None, flow.event_for("invitation"), actor, client_ip, recipient=person.email)

    def start(results) -> list:
        # The account id comes from the INSERT just before, in the same transaction.
        batch.plan.set_new_instance_account(results[-1][0]["id"])
        return batch.plan.steps()

    steps = [
        # The check above spares the work; this one, in the transaction, is the limit.
        *accounts.recent_events_below_steps(db, actor, sent, now - timedelta(hours=1), limit_per_hour),
        accounts.insert_step(organisation_id, role, person.salutation, person.first_name, person.last_name, person.email, now),
        Deferred(start),
    ]
    try:
        await db.write(steps)
    except ConflictError:
        if await accounts.count_recent_events(db, actor, sent, now - timedelta(hours=1)) >= limit_per_hour:
            raise InviteLimitReached(limit_per_hour) from None
        raise
    except Exception as exc:
        if _is_unique_violation(exc):  # the same address invited at the same moment
            raise AlreadyInvited(None, False) from None
        raise
    return record
