"""Run events on persisted instances: load, one event, save once (one transaction)."""

from __future__ import annotations

from typing import Any

from db import instances
from db.engine import ConflictError, Database
from db.instances import Change, InstanceRecord
from core.clock import SystemClock
from workflows import publication
from workflows.engine import EventNotAllowed, Flow, Outcome
from workflows.registry import FlowRegistry
from workflows.roles import EventOf

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
        event: str | None = None,
        actor: str = "system",
        client_ip: str = "",
        data: dict[str, Any] | None = None,
        recipient: str = "",
    ) -> tuple[InstanceRecord, Outcome]:
        """Create an instance of the current version and run its first event (default: the
        flow's "invitation" event), in one transaction."""
        record, outcomes = self.prepare_start(flow_name, organisation_id, account_id, event, data, recipient)
        steps = instances.start_steps(Change(record, outcomes[0], actor, client_ip), self.clock.now(), outcomes[1:])
        await self.db.write(steps)
        return record, outcomes[0]

    def prepare_start(
        self,
        flow_name: str,
        organisation_id: int,
        account_id: int | None,
        event: str | None,
        data: dict[str, Any] | None = None,
        recipient: str = "",
    ) -> tuple[InstanceRecord, list[Outcome]]:
        """The new instance and the outcomes of its first event and the automatic
        transitions after it, not yet written: callers that add statements of their own
        persist them with `db.instances.start_steps(first, now, following)`."""
        flow = self.registry.current(flow_name)
        event = event or flow.event_for("invitation")
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
        return record, flow.run_through(initial, event, now, data=data)

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
    ) -> tuple[InstanceRecord, Outcome]:
        """`extra_steps` are written in the same transaction (e.g. the device a step binds),
        and so are the automatic transitions the event leads into. Returns the record as
        written and the outcome of `event` itself."""
        record = await instances.load(self.db, instance_id, organisation_id)
        if record is None:
            raise InstanceNotFound(instance_id)
        await publication.ensure_known(self.db, self.registry, record.flow_name, record.flow_version)
        now = self.clock.now()
        if isinstance(event, EventOf):
            event = self.flow_of(record).event_for(event.role)
        outcomes = self.flow_of(record).run_through(record.state, event, now, context=record.context, data=data)
        changes = instances.chained(Change(record, outcomes[0], actor, client_ip, details or {}), outcomes[1:])
        try:
            await self.db.write(instances.chain_steps(changes, now) + list(extra_steps or []))
        except ConflictError:
            raise TransitionConflict(instance_id, event) from None
        last = outcomes[-1]
        record.state, record.version, record.context = last.target, record.version + len(outcomes), last.context
        return record, outcomes[0]

    def allowed_events(self, record: InstanceRecord) -> list[str]:
        return self.flow_of(record).events_in(record.state)
