"""Inviting a person: the account, the instance, its history and the invitation
mail's outbox row are written in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from db import accounts, limits
from db.engine import Deferred
from db.instances import InstanceRecord
from workflows.mail_limits import MailLimits, limit_reached
from workflows.service import FlowService


@dataclass(frozen=True)
class Person:
    salutation: str
    first_name: str
    last_name: str
    email: str
    language: str = "de"  # the invitation's language: its mails and the person's first pages


class AlreadyInvited(Exception):
    """The address already has an invitation or account in this organisation."""

    def __init__(self, instance_id: int | None, can_resend: bool):
        self.instance_id, self.can_resend = instance_id, can_resend
        super().__init__("already invited")


def _is_unique_violation(exc: Exception) -> bool:
    name = type(exc).__name__
    return name in ("IntegrityError", "UniqueViolationError") and "unique" in str(exc).lower()


def _admin_may(service: FlowService, instance: dict, role: str) -> bool:
    """Whether the instance's own flow version offers admins the event with `role` now."""
    own = service.registry.get(instance["flow_name"], instance["flow_version"])
    return own.event_for(role) in [t.event for t in own.transitions_for(instance["state"], "admin")]


async def invite(
    service: FlowService, organisation_id: int, person: Person, actor: str, client_ip: str,
    mail_limits: MailLimits | None, role: str = "staff",
) -> InstanceRecord:
    """`mail_limits`: the admin's and the recipient's quotas (LIM-1), taken in the same
    transaction; None for the operator's command line."""
    db, now = service.db, service.clock.now()
    flow = service.registry.onboarding()
    batch = service.batch()
    record, _ = batch.start(flow.name, organisation_id, None, flow.event_for("invitation"), actor, client_ip, recipient=person.email)

    def start(results) -> list:
        # The account id comes from the first INSERT, in the same transaction.
        batch.plan.set_new_instance_account(results[0][0]["id"])
        return batch.plan.steps()

    quotas = mail_limits.quotas(actor, person.email) if mail_limits else []
    # The account first: an address already invited is refused by its unique index before
    # a quota is asked (as the look-up before the write did), and takes none.
    steps = [
        accounts.insert_step(organisation_id, role, person.salutation, person.first_name, person.last_name, person.email, now,
                             person.language),
        *limits.take_steps(quotas, now, postgres=not db.is_sqlite),
        Deferred(start),
    ]
    try:
        await db.write(steps)
    except limits.QuotaExhausted as exc:
        raise limit_reached(exc) from None
    except Exception as exc:
        if _is_unique_violation(exc):
            raise await _already_invited(service, organisation_id, person.email) from None
        raise
    return record


async def _already_invited(service: FlowService, organisation_id: int, email: str) -> AlreadyInvited:
    """Why the account's INSERT met the unique index (organisation, lower(email)).

    Asked only then, not before every invitation: the index decides anyway (also when
    two admins invite the same address at the same moment), and the look-up cost a
    statement per invitation (~0.3 ms of CPU on SQLite, a round trip on PostgreSQL)."""
    existing = await accounts.find_by_email(service.db, organisation_id, email)
    if existing is None:  # the other invitation was removed in the meantime
        return AlreadyInvited(None, False)
    instance = existing["instance"]
    can_resend = bool(instance) and _admin_may(service, instance, "invitation_again")
    return AlreadyInvited(instance["id"] if instance else None, can_resend)
