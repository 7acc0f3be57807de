"""Run events on persisted instances: load, run in memory, write once (one transaction).

Requests, invitations and the timer sweep share one path: a `Batch` runs events on
loaded instances in memory and collects their outcomes in a `db.transitions.WritePlan`,
which becomes the statements of one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from db import instances, limits
from db.engine import ConflictError, Database
from db.instances import InstanceRecord
from db.transitions import Change, WritePlan
from core.clock import SystemClock
from workflows import publication
from workflows.engine import EventNotAllowed, Flow, Outcome
from workflows.mail_limits import MailLimits, limit_reached
from workflows.registry import FlowRegistry
from workflows.roles import EventOf

__all__ = ["Batch", "FlowService", "InstanceNotFound", "TransitionConflict", "EventNotAllowed"]


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


class Batch:
    """Events run in memory on loaded instances, written together by `FlowService.write`.

    Each instance's events see the state, version and context its earlier events in the
    batch produced, so a chain is written in order in one transaction. The flow's
    automatic transitions (`auto: true`) that follow an event are part of its `send`."""

    def __init__(self, registry: FlowRegistry, now: datetime):
        self.registry = registry
        self.now = now
        self.plan = WritePlan(now)
        self._current: dict[int, InstanceRecord] = {}
        self._cancelled: dict[int, set[str]] = {}

    def current(self, record: InstanceRecord) -> InstanceRecord:
        """The instance as this batch's events so far left it."""
        return self._current.get(record.id, record) if record.id else record

    def send(
        self,
        record: InstanceRecord,
        event: str | EventOf,
        actor: str = "system",
        client_ip: str = "",
        data: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> tuple[InstanceRecord, Outcome]:
        """Run `event` (or the event with a role, in the instance's own flow version) and
        the automatic transitions it leads into (EventNotAllowed if refused); plan their writes."""
        current = self.current(record)
        flow = self.registry.get(current.flow_name, current.flow_version)
        if isinstance(event, EventOf):
            event = flow.event_for(event.role)
        outcomes = flow.run_through(current.state, event, self.now, context=current.context, data=data)
        return self._apply_chain(current, outcomes, actor, client_ip, details or {}), outcomes[0]

    def start(
        self,
        flow_name: str,
        organisation_id: int,
        account_id: int | None,
        event: str | None,
        actor: str = "system",
        client_ip: str = "",
        data: dict[str, Any] | None = None,
        recipient: str = "",
    ) -> tuple[InstanceRecord, Outcome]:
        """A new instance of the flow's current version, after its first event (default:
        the flow's "invitation" event) and the automatic transitions after it. Its id is
        set when the plan's INSERT runs (the record returned here is updated then)."""
        flow = self.registry.current(flow_name)
        event = event or flow.event_for("invitation")
        initial, _ = flow.start(self.now)
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
        outcomes = flow.run_through(initial, event, self.now, data=data)
        return self._apply_chain(record, outcomes, actor, client_ip, {}), outcomes[0]

    def fire_timer(self, record: InstanceRecord | None, timer_id: int, event: str) -> str:
        """Plan a due timer: "fired" (its event ran), "cancelled" (no instance, or the
        event is refused now) or "skipped" (an earlier event of this batch cancelled it
        in the same transaction). Fired and cancelled timers are claimed in the plan."""
        if record is None:
            self.plan.claim_timer(timer_id, "cancelled")
            return "cancelled"
        if event in self._cancelled.get(record.id, ()):
            return "skipped"
        try:
            self.send(record, event, actor="system:timer", details={"timer": timer_id})
        except EventNotAllowed:
            self.plan.claim_timer(timer_id, "cancelled")
            return "cancelled"
        self.plan.claim_timer(timer_id, "fired")
        return "fired"

    def _apply_chain(self, current: InstanceRecord, outcomes: list[Outcome], actor: str, client_ip: str, details: dict) -> InstanceRecord:
        for outcome in outcomes:
            current = self._apply(current, outcome, actor, client_ip, details)
        return current

    def _apply(self, current: InstanceRecord, outcome: Outcome, actor: str, client_ip: str, details: dict) -> InstanceRecord:
        self.plan.add(Change(current, outcome, actor, client_ip, details))
        after = InstanceRecord(
            **{**current.__dict__, "state": outcome.target, "version": current.version + 1, "context": outcome.context}
        )
        if after.id:
            self._current[after.id] = after
            self._cancelled.setdefault(after.id, set()).update(outcome.timers_to_cancel)
        else:
            self.plan.new_instance_records.append(after)
        return after


class FlowService:
    def __init__(self, db: Database, registry: FlowRegistry, clock=None):
        self.db = db
        self.registry = registry
        self.clock = clock or SystemClock()

    def flow_of(self, record: InstanceRecord) -> Flow:
        return self.registry.get(record.flow_name, record.flow_version)

    def batch(self) -> Batch:
        return Batch(self.registry, self.clock.now())

    async def write(self, batch: Batch, extra_steps: list | None = None) -> None:
        """The batch's statements and `extra_steps` in one transaction; ConflictError if
        another writer changed one of its instances or claimed one of its timers first."""
        await self.db.write(batch.plan.steps() + list(extra_steps or []))

    async def start(
        self,
        flow_name: str,
        organisation_id: int,
        account_id: int | None = None,
        event: str | None = None,
        actor: str = "system",
        client_ip: str = "",
        data: dict[str, Any] | None = None,
        recipient: str = "",
    ) -> tuple[InstanceRecord, Outcome]:
        """Create an instance of the current version and run its first event (default: the
        flow's "invitation" event) with the automatic transitions after it, in one transaction."""
        batch = self.batch()
        record, outcome = batch.start(flow_name, organisation_id, account_id, event, actor, client_ip, data, recipient)
        await self.write(batch)
        return record, outcome

    async def send(
        self,
        instance_id: int,
        event: str | EventOf,
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
        await publication.ensure_known(self.db, self.registry, record.flow_name, record.flow_version)
        batch = self.batch()
        record, outcome = batch.send(record, event, actor, client_ip, data, details)
        quota_steps = []
        # Mails of the event itself, not of the automatic transitions after it: the admin caused those.
        if mail_limits is not None and outcome.mails and record.recipient:
            quota_steps = limits.take_steps(mail_limits.quotas(actor, record.recipient), batch.now, postgres=not self.db.is_sqlite)
        try:
            await self.db.write(quota_steps + batch.plan.steps() + list(extra_steps or []))
        except ConflictError:
            raise TransitionConflict(instance_id, event) from None
        except limits.QuotaExhausted as exc:
            raise limit_reached(exc) from None
        return record, outcome

    def allowed_events(self, record: InstanceRecord) -> list[str]:
        return self.flow_of(record).events_in(record.state)
