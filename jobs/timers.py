"""Fire due timers. Safe with several processes: a sweeper first claims a batch of due
timers for a short while (on PostgreSQL with FOR UPDATE SKIP LOCKED, so concurrent
sweepers take different timers instead of waiting for, or conflicting on, the same ones),
then fires each in the transaction that applies its event, guarded by `status = 'pending'`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from piccolo.columns.combination import WhereRaw

from db import instances
from db.engine import ConflictError
from db.tables import Timer
from workflows import publication
from workflows.service import FlowService

log = logging.getLogger(__name__)

# How long a claimed batch stays with its sweeper; a sweeper that dies delays it this long.
TIMER_CLAIM_LEASE = timedelta(seconds=30)
_DUE = (
    "SELECT id FROM timer WHERE status = 'pending' AND due_at <= {} "
    "AND (claimed_until IS NULL OR claimed_until <= {}) ORDER BY due_at LIMIT {}"
)


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
        .where(WhereRaw("id IN (" + _DUE + ")", now, now, limit))
        .order_by(Timer.due_at)
    )


def claim_due_timers_query(now, limit: int, postgres: bool, lease: timedelta = TIMER_CLAIM_LEASE):
    """Claim up to `limit` due timers nobody holds, returning them. As in the outbox's
    claim, PostgreSQL takes the ids with SKIP LOCKED inside ARRAY(...) (run once), so a
    concurrent sweeper takes the next timers instead of waiting for these."""
    if postgres:
        due_ids = WhereRaw("id = ANY(ARRAY(" + _DUE + " FOR UPDATE SKIP LOCKED))", now, now, limit)
    else:  # one writer at a time: claims cannot overlap
        due_ids = WhereRaw("id IN (" + _DUE + ")", now, now, limit)
    return (
        Timer.update({Timer.claimed_until: now + lease})
        .where(due_ids & WhereRaw("status = 'pending'"))
        .returning(Timer.id, Timer.instance, Timer.event, Timer.due_at)
    )


async def claim_due_timers(db, now, limit: int) -> list[dict]:
    rows = (await db.write([claim_due_timers_query(now, limit, postgres=not db.is_sqlite)]))[0]
    return sorted(rows, key=lambda row: (row["due_at"], row["id"]))


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
    batch = service.batch()
    due = await claim_due_timers(db, batch.now, batch_size)
    if not due:
        return SweepResult(), 0
    records = await instances.load_many(db, sorted({t["instance"] for t in due}))
    # A version published by another process since this one last looked is loaded first.
    for name, version in {(r.flow_name, r.flow_version) for r in records.values()}:
        await publication.ensure_known(db, service.registry, name, version)
    # Most due timers of a batch share (flow version, state, event, context): the machine
    # runs once per distinct input, the others reuse its result (workflows.engine.Flow.run).
    planned = [batch.fire_timer(records.get(t["instance"]), t["id"], t["event"]) for t in due]
    try:
        await service.write(batch)
    except ConflictError:
        # Another process (or a user) got to some of these first: go one by one,
        # so the rest still fire; each lost race is simply skipped.
        result = SweepResult()
        for timer in due:
            outcome = await _fire_one(service, timer)
            setattr(result, outcome, getattr(result, outcome) + 1)
        return result, len(due)
    return SweepResult(fired=planned.count("fired"), cancelled=planned.count("cancelled")), len(due)


async def _fire_one(service: FlowService, timer: dict) -> str:
    batch = service.batch()
    outcome = batch.fire_timer(await instances.load(service.db, timer["instance"]), timer["id"], timer["event"])
    try:
        await service.write(batch)
    except ConflictError:
        return "conflicts"
    return outcome
