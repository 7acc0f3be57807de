"""Run events on persisted instances: load, one event, save once (one transaction)."""

from __future__ import annotations

from typing import Any

from db import instances, limits
from db.engine import ConflictError, Database
from db.instances import Change, InstanceRecord
from partnerportal.clock import SystemClock
from workflows.engine import EventNotAllowed, Flow, Outcome
from workflows.mail_limits import MailLimits, limit_reached
from workflows.registry import FlowRegistry

__all__ = ["FlowService", "InstanceNotFound", "TransitionConflict", "EventNotAllowed"]


class InstanceNotFound(LookupError):
    pass


class TransitionConflict(Exception):
    """Another request changed the instance first; nothing of this event was written."""

    def __init__(self, instance_id: int, event: str):
        self.instance_id, self.event = instance_id, event
        super().__init__(
            f"Instance {instance_id} was changed by someone else while {event!r} was running; "
            "nothing was written. Reload and try again."
        )


class FlowService:
    def __init__(self, db: Database, registry: FlowRegistry, clock=None):
        self.db = db
        self.registry = registry
        self.clock = clock or SystemClock()

    def flow_of(self, record: InstanceRecord) -> Flow:
        return self.registry.get(record.flow_name, record.flow_version)

    async def start(
        self,
        flow_name: str,
        organisation_id: int,
        account_id: int | None = None,
        event: str = "invite",
        actor: str = "system",
        client_ip: str = "",
        data: dict[str, Any] | None = None,
        recipient: str = "",
    ) -> tuple[InstanceRecord, Outcome]:
        """Create an instance of the current version and run its first event, in one transaction."""
        record, outcome = self.prepare_start(flow_name, organisation_id, account_id, event, data, recipient)
        await self.db.write(instances.start_steps(Change(record, outcome, actor, client_ip), self.clock.now()))
        return record, outcome

    def prepare_start(
        self,
        flow_name: str,
        organisation_id: int,
        account_id: int | None,
        event: str,
        data: dict[str, Any] | None = None,
        recipient: str = "",
    ) -> tuple[InstanceRecord, Outcome]:
        """The new instance and its first outcome, not yet written: callers that add
        statements of their own persist it with `db.instances.start_steps`."""
        flow = self.registry.current(flow_name)
        now = self.clock.now()
        initial, _ = flow.start(now)
        record = InstanceRecord(
            id=0,
            organisation_id=organisation_id,
            account_id=account_id,
            flow_name=flow.name,
            flow_version=flow.version,
            state=initial,
            version=0,
            context={},
            recipient=recipient,
        )
        outcome = flow.run(initial, event, now, data=data)
        return record, outcome

    async def send(
        self,
        instance_id: int,
        event: str,
        actor: str = "system",
        client_ip: str = "",
        data: dict[str, Any] | None = None,
        organisation_id: int | None = None,
        details: dict[str, Any] | None = None,
        extra_steps: list | None = None,
        mail_limits: MailLimits | None = None,
    ) -> tuple[InstanceRecord, Outcome]:
        """`extra_steps` are written in the same transaction (e.g. the device a step binds).
        `mail_limits`: the event is an admin's, and if it sends mail, the admin's and the
        recipient's quotas are taken in the same transaction (MailLimitReached otherwise)."""
        record = await instances.load(self.db, instance_id, organisation_id)
        if record is None:
            raise InstanceNotFound(instance_id)
        now = self.clock.now()
        outcome = self.flow_of(record).run(record.state, event, now, context=record.context, data=data)
        change = Change(record, outcome, actor, client_ip, details or {})
        quota_steps = []
        if mail_limits is not None and outcome.mails and record.recipient:
            quota_steps = limits.take_steps(mail_limits.quotas(actor, record.recipient), now, postgres=not self.db.is_sqlite)
        try:
            await self.db.write(quota_steps + instances.change_steps([change], now) + list(extra_steps or []))
        except ConflictError:
            raise TransitionConflict(instance_id, event) from None
        except limits.QuotaExhausted as exc:
            raise limit_reached(exc) from None
        record.state, record.version, record.context = outcome.target, record.version + 1, outcome.context
        return record, outcome

    def allowed_events(self, record: InstanceRecord) -> list[str]:
        return self.flow_of(record).events_in(record.state)
