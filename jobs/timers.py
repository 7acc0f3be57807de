"""Fire due timers. Safe with several processes: each timer is claimed in the same
transaction that applies its event, guarded by `status = 'pending'`."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from piccolo.columns.combination import WhereRaw

from db import instances
from db.engine import ConflictError, Sql, Step
from db.instances import Change, InstanceRecord
from db.tables import Timer
from workflows import publication
from workflows.engine import EventNotAllowed, OutcomeMemo
from workflows.service import FlowService

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    fired: int = 0
    cancelled: int = 0
    conflicts: int = 0


def due_timers_query(now, limit: int):
    # Two details keep PostgreSQL on the partial index timer_pending_due even in the
    # generic plan asyncpg's prepared statement switches to after 5 runs:
    # the status is a literal (a `status = $1` parameter cannot prove the index's
    # WHERE clause), and ORDER BY due_at (without it the planner scans the table).
    return (
        Timer.select(Timer.id, Timer.instance, Timer.event, Timer.due_at)
        .where(WhereRaw("status = 'pending'") & (Timer.due_at <= now))
        .order_by(Timer.due_at)
        .limit(limit)
    )


async def fire_due_timers(service: FlowService, batch_size: int = 500) -> SweepResult:
    """Fire everything due now, batch by batch."""
    total = SweepResult()
    while True:
        result, seen = await _sweep_batch(service, batch_size)
        total.fired += result.fired
        total.cancelled += result.cancelled
        total.conflicts += result.conflicts
        # A batch that made no progress (all lost to another process) ends the sweep.
        if seen < batch_size or result.fired + result.cancelled == 0:
            return total


async def _sweep_batch(service: FlowService, batch_size: int) -> tuple[SweepResult, int]:
    db = service.db
    now = service.clock.now()
    due = await db.fetch(due_timers_query(now, batch_size))
    if not due:
        return SweepResult(), 0
    records = await instances.load_many(db, sorted({t["instance"] for t in due}))
    for name, version in {(r.flow_name, r.flow_version) for r in records.values()}:
        await publication.ensure_known(db, service.registry, name, version)
    plan = _plan(service, due, records, now)
    try:
        await db.write(plan.steps(now))
        return SweepResult(fired=len(plan.fired), cancelled=len(plan.cancelled)), len(due)
    except ConflictError:
        # Another process (or a user) got to some of these first: go one by one,
        # so the rest still fire; each lost race is simply skipped.
        result = SweepResult()
        for timer in due:
            outcome = await _fire_one(service, timer)
            setattr(result, outcome, getattr(result, outcome) + 1)
        return result, len(due)


class _Plan:
    def __init__(self):
        self.changes: list[Change] = []
        self.fired: list[int] = []
        self.cancelled: list[int] = []

    def steps(self, now) -> list[Step]:
        claims = []
        if self.fired:
            claims.append(_claim(self.fired, "fired", now))
        if self.cancelled:
            claims.append(_claim(self.cancelled, "cancelled", now))
        return claims + _merge(self.changes, now)


def _plan(service: FlowService, due: list[dict], records: dict[int, InstanceRecord], now) -> _Plan:
    plan = _Plan()
    working: dict[int, InstanceRecord] = {}
    cancelled_by_batch: dict[int, set[str]] = {}
    # Most due timers of a batch share (flow version, state, event, context): the machine
    # runs once per distinct input, the others reuse its outcome (workflows.engine.OutcomeMemo).
    memo = OutcomeMemo()
    for timer in due:
        record = records.get(timer["instance"])
        if record is None:
            plan.cancelled.append(timer["id"])
            continue
        if timer["event"] in cancelled_by_batch.get(record.id, set()):
            continue  # an earlier event of this batch already cancelled it in the same transaction
        current = working.get(record.id, record)
        flow = service.flow_of(current)
        try:
            # The timer's event and the automatic transitions it leads into.
            outcomes = flow.run_through(
                current.state, timer["event"], now, context=current.context,
                run=functools.partial(memo.run, flow),
            )
        except EventNotAllowed:
            plan.cancelled.append(timer["id"])
            continue
        plan.fired.append(timer["id"])
        for outcome in outcomes:
            plan.changes.append(Change(current, outcome, actor="system:timer", details={"timer": timer["id"]}))
            cancelled_by_batch.setdefault(record.id, set()).update(outcome.timers_to_cancel)
            current = working[record.id] = InstanceRecord(
                **{**current.__dict__, "state": outcome.target, "version": current.version + 1, "context": outcome.context}
            )
    return plan


def _merge(changes: list[Change], now) -> list[Step]:
    # Several events of one instance in one batch (after downtime) must be written
    # in order, each checking the version the previous one produced.
    rounds: list[list[Change]] = []
    seen: dict[int, int] = {}
    for change in changes:
        index = seen.get(change.record.id, -1) + 1
        seen[change.record.id] = index
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(change)
    return [step for batch in rounds for step in instances.change_steps(batch, now)]


def _claim(timer_ids: list[int], status: str, now) -> Step:
    # Written out (db.engine.Sql) rather than built with Piccolo: the same statement,
    # without Piccolo's per-argument query-string work; on PostgreSQL the ids travel as
    # one array, so the prepared statement is the same for every batch size.
    head = 'UPDATE "timer" SET "status" = {}, "fired_at" = {} WHERE ("timer"."status" = {} AND '
    if Timer._meta.db.engine_type == "postgres":
        query = Sql(Timer, head + 'id = ANY({}::int[])) RETURNING "id"', status, now, "pending", list(timer_ids))
    else:
        marks = ",".join(["{}"] * len(timer_ids))
        query = Sql(Timer, head + f'id IN ({marks})) RETURNING "id"', status, now, "pending", *timer_ids)
    return Step(query, expect_rows=len(timer_ids))


async def _fire_one(service: FlowService, timer: dict) -> str:
    db = service.db
    now = service.clock.now()
    record = await instances.load(db, timer["instance"])
    plan = _plan(service, [timer], {record.id: record} if record else {}, now)
    try:
        await db.write(plan.steps(now))
    except ConflictError:
        return "conflicts"
    return "fired" if plan.fired else "cancelled"
