"""Load flow instances and turn engine outcomes into the statements of one transaction."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from piccolo.columns.combination import WhereRaw

from db.engine import Database, Deferred, Step
from db.tables import Account, FlowInstance, InvitationLink, Outbox, Timer, TransitionHistory, WebSession
from workflows.engine import Outcome


@dataclass
class InstanceRecord:
    id: int
    organisation_id: int
    account_id: int | None
    flow_name: str
    flow_version: int
    state: str
    version: int
    context: dict[str, Any]
    recipient: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Change:
    """One outcome to persist for one instance, with who caused it."""

    record: InstanceRecord
    outcome: Outcome
    actor: str = "system"
    client_ip: str = ""
    details: dict[str, Any] = field(default_factory=dict)


SELECT_COLUMNS = (
    FlowInstance.id,
    FlowInstance.organisation,
    FlowInstance.account,
    FlowInstance.flow_name,
    FlowInstance.flow_version,
    FlowInstance.state,
    FlowInstance.version,
    FlowInstance.context,
    FlowInstance.created_at,
    FlowInstance.updated_at,
    FlowInstance.account.email.as_alias("recipient"),
)


def record_from_row(row: dict[str, Any]) -> InstanceRecord:
    context = row["context"]
    return InstanceRecord(
        id=row["id"],
        organisation_id=row["organisation"],
        account_id=row["account"],
        flow_name=row["flow_name"],
        flow_version=row["flow_version"],
        state=row["state"],
        version=row["version"],
        context=json.loads(context) if isinstance(context, str) else dict(context or {}),
        recipient=row.get("recipient") or "",
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def load(db: Database, instance_id: int, organisation_id: int | None = None) -> InstanceRecord | None:
    """The instance, or None; with organisation_id, another organisation's instance is None too."""
    where = FlowInstance.id == instance_id
    if organisation_id is not None:
        where &= FlowInstance.organisation == organisation_id
    row = await db.fetch_one(FlowInstance.select(*SELECT_COLUMNS).where(where))
    return record_from_row(row) if row else None


async def load_many(db: Database, instance_ids: list[int]) -> dict[int, InstanceRecord]:
    if not instance_ids:
        return {}
    rows = await db.fetch(FlowInstance.select(*SELECT_COLUMNS).where(FlowInstance.id.is_in(instance_ids)))
    return {row["id"]: record_from_row(row) for row in rows}


def start_steps(change: Change, now: datetime) -> list[Step | Deferred]:
    """Insert a new instance already in the outcome's target state, with the history,
    timers and outbox rows of its first event, in the same transaction."""
    record, outcome = change.record, change.outcome
    instance = FlowInstance(
        organisation=record.organisation_id,
        account=record.account_id,
        flow_name=record.flow_name,
        flow_version=record.flow_version,
        state=outcome.target,
        version=1,
        context=outcome.context,
        created_at=now,
        updated_at=now,
    )
    insert = Step(FlowInstance.insert(instance).returning(FlowInstance.id), expect_rows=1)

    def effects(results) -> list[Step]:
        record.id = results[0][0]["id"]
        record.state, record.version, record.context = outcome.target, 1, outcome.context
        return effect_steps([change], now)

    return [insert, Deferred(effects)]


def change_steps(changes: list[Change], now: datetime) -> list[Step]:
    """Statements that persist all changes together: state (version-checked), history,
    timers and outbox. Set-based, so a batch of many changes costs a handful of statements."""
    if not changes:
        return []
    return _instance_updates(changes, now) + effect_steps(changes, now)


def effect_steps(changes: list[Change], now: datetime) -> list[Step]:
    """History, timers and outbox rows of changes whose instance rows are written."""
    steps = []
    steps.append(Step(TransitionHistory.insert(*[_history_row(c, now) for c in changes])))
    steps.extend(_timer_cancellations(changes))
    new_timers = [
        Timer(instance=c.record.id, event=event, due_at=due, status="pending")
        for c in changes
        for event, due in c.outcome.timers_to_start
    ]
    if new_timers:
        steps.append(Step(Timer.insert(*new_timers)))
    mails = [_outbox_row(c, kind, now) for c in changes for kind in c.outcome.mails]
    if mails:
        steps.append(Step(Outbox.insert(*mails)))
    steps.extend(_record_steps(changes, now))
    return steps


def _record_steps(changes: list[Change], now: datetime) -> list[Step]:
    """Statements for the named record effects of workflows/actions.py."""

    def instances_with(effect: str) -> list[int]:
        return [c.record.id for c in changes if effect in c.outcome.records]

    def accounts_with(effect: str) -> list[int]:
        return [c.record.account_id for c in changes if effect in c.outcome.records and c.record.account_id]

    steps = []
    if ids := instances_with("end_links"):
        steps.append(
            Step(InvitationLink.update({InvitationLink.ended_at: now}).where(
                InvitationLink.instance.is_in(ids) & InvitationLink.ended_at.is_null()
            ))
        )
    if ids := accounts_with("end_sessions"):
        steps.append(
            Step(WebSession.update({WebSession.ended_at: now}).where(
                WebSession.account.is_in(ids) & WebSession.ended_at.is_null()
            ))
        )
    for account_id in accounts_with("anonymise_person"):
        steps.append(
            Step(Account.update({
                Account.salutation: "", Account.first_name: "", Account.last_name: "",
                # Keeps the unique (organisation, email) index satisfied; no real address.
                Account.email: f"geloescht-{account_id}@anonym.invalid",
            }).where(Account.id == account_id))
        )
    if ids := instances_with("anonymise_person"):
        steps.append(Step(Outbox.update({Outbox.recipient: "", Outbox.status: "cancelled"}).where(
            Outbox.instance.is_in(ids) & (Outbox.status == "pending")
        )))
        steps.append(Step(Outbox.update({Outbox.recipient: ""}).where(Outbox.instance.is_in(ids))))
    return steps


def _instance_updates(changes: list[Change], now: datetime) -> list[Step]:
    # Changes with the same new state and context share one UPDATE; the WHERE
    # clause lists each (id, version) read, so any concurrent change is a conflict.
    groups: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for change in changes:
        key = (change.outcome.target, json.dumps(change.outcome.context, sort_keys=True))
        groups[key].append(change)
    steps = []
    for (target, context_json), group in groups.items():
        clause = " OR ".join(["(id = {} AND version = {})"] * len(group))
        args = [value for c in group for value in (c.record.id, c.record.version)]
        query = (
            FlowInstance.update(
                {
                    FlowInstance.state: target,
                    FlowInstance.context: context_json,
                    FlowInstance.version: FlowInstance.version + 1,
                    FlowInstance.updated_at: now,
                }
            )
            .where(WhereRaw(f"({clause})", *args))
            .returning(FlowInstance.id)
        )
        steps.append(Step(query, expect_rows=len(group)))
    return steps


def _timer_cancellations(changes: list[Change]) -> list[Step]:
    groups: dict[frozenset[str], list[int]] = defaultdict(list)
    for change in changes:
        if change.outcome.timers_to_cancel:
            groups[frozenset(change.outcome.timers_to_cancel)].append(change.record.id)
    return [
        Step(
            Timer.update({Timer.status: "cancelled"}).where(
                (Timer.status == "pending") & Timer.instance.is_in(ids) & Timer.event.is_in(sorted(events))
            )
        )
        for events, ids in groups.items()
    ]


def _history_row(change: Change, now: datetime) -> TransitionHistory:
    outcome = change.outcome
    details = {"flow_version": change.record.flow_version, **change.details}
    if outcome.mails:
        details["mails"] = outcome.mails
    return TransitionHistory(
        instance=change.record.id,
        organisation=change.record.organisation_id,
        event=outcome.event,
        from_state=outcome.source,
        to_state=outcome.target,
        actor=change.actor,
        client_ip=change.client_ip,
        details=details,
        created_at=now,
    )


def _outbox_row(change: Change, kind: str, now: datetime) -> Outbox:
    return Outbox(
        organisation=change.record.organisation_id,
        instance=change.record.id,
        kind=kind,
        recipient=change.record.recipient,
        payload={"flow_version": change.record.flow_version, "state": change.outcome.target},
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
