"""Inviting a person: the account, the instance, its history and the invitation
mail's outbox row are written in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from db import accounts, instances, limits
from db.engine import Deferred
from db.instances import Change, InstanceRecord
from workflows.mail_limits import InviteLimitReached, MailLimits, RecipientLimitReached, limit_reached
from workflows.service import FlowService

__all__ = ["AlreadyInvited", "InviteLimitReached", "Person", "RecipientLimitReached", "invite"]

FLOW = "onboarding"


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


def _is_unique_violation(exc: Exception) -> bool:
    name = type(exc).__name__
    return name in ("IntegrityError", "UniqueViolationError") and "unique" in str(exc).lower()


async def invite(
    service: FlowService, organisation_id: int, person: Person, actor: str, client_ip: str,
    mail_limits: MailLimits | None, role: str = "staff",
) -> InstanceRecord:
    """`mail_limits`: the admin's and the recipient's quotas (LIM-1), taken in the same
    transaction; None for the operator's command line."""
    db, now = service.db, service.clock.now()
    existing = await accounts.find_by_email(db, organisation_id, person.email)
    if existing is not None:
        instance = existing["instance"]
        can_resend = bool(instance) and "resend" in [
            t.event for t in service.registry.get(instance["flow_name"], instance["flow_version"]).transitions_for(instance["state"], "admin")
        ]
        raise AlreadyInvited(instance["id"] if instance else None, can_resend)
    record, outcome = service.prepare_start(FLOW, organisation_id, None, "invite", recipient=person.email)

    def start(results) -> list:
        # The account id comes from the INSERT just before, in the same transaction.
        record.account_id = results[-1][0]["id"]
        return instances.start_steps(Change(record, outcome, actor, client_ip), now)

    quotas = mail_limits.quotas(actor, person.email) if mail_limits else []
    steps = [
        *limits.take_steps(quotas, now, postgres=not db.is_sqlite),
        accounts.insert_step(organisation_id, role, person.salutation, person.first_name, person.last_name, person.email, now),
        Deferred(start),
    ]
    try:
        await db.write(steps)
    except limits.QuotaExhausted as exc:
        raise limit_reached(exc) from None
    except Exception as exc:
        if _is_unique_violation(exc):  # the same address invited at the same moment
            raise AlreadyInvited(None, False) from None
        raise
    return record
