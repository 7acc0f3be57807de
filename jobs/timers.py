"""Fire due timers. Safe with several processes: a sweeper first claims a batch of due
timers for a short while (on PostgreSQL with FOR UPDATE SKIP LOCKED, so concurrent
sweepers take different timers instead of waiting for, or conflicting on, the same ones),
then fires the batch in one transaction of the engine's write path (set-based statements,
as for a request's one event), each timer guarded by `status = 'pending'`. A batch the
database refuses is split until only the offending timer is left out (`fire_claimed`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from piccolo.columns.combination import WhereRaw

from db import instances
from db.engine import ConflictError, Deferred, Step, refused_by_database
from db.instances import InstanceRecord
from db.tables import Timer
from workflows import publication
from workflows.registry import UnknownFlow
from workflows.service import Batch, FlowService

log = logging.getLogger(__name__)

# Timers planned between two turns of the event loop (see _plan): ~0.5 ms of Python.
PLAN_YIELD_EVERY = 50
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
    # Timers whose event raised or whose writes the database refused: they stay pending
    # (claimed for TIMER_CLAIM_LEASE, then tried again) while the rest of their batch fires.
    failed: list[int] = field(default_factory=list)

    def add(self, other: SweepResult) -> None:
        self.fired += other.fired
        self.cancelled += other.cancelled
        self.conflicts += other.conflicts
        self.failed += other.failed


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


@dataclass
class _Claimed:
    """A claimed batch of due timers (in due order) with their instances as read."""

    timers: list[dict]
    records: dict[int, InstanceRecord]


async def _claim_and_load(db, now, limit: int) -> _Claimed:
    # One call: on SQLite, one hop to the database thread, queued before the write of the
    # batch being planned meanwhile (see fire_due_timers).
    def load(results) -> list[Step]:
        ids = sorted({row["instance"] for row in results[0]})
        return [Step(query) for query in instances.load_many_queries(ids)] if ids else []

    results = await db.write([Step(claim_due_timers_query(now, limit, postgres=not db.is_sqlite)), Deferred(load)])
    timers = sorted(results[0], key=lambda row: (row["due_at"], row["id"]))
    return _Claimed(timers, instances.records_from_rows([row for rows in results[1:] for row in rows]))


async def fire_due_timers(service: FlowService, batch_size: int = 1000) -> SweepResult:
    """Fire everything due now, batch by batch. While one batch is written, the next is
    claimed, read and planned (the database and Python work at the same time): a timer of
    an instance the batch being written changes fails that instance's version check and
    is fired again from a fresh read (fire_claimed), so nothing fires on a stale instance."""
    db, total = service.db, SweepResult()
    claimed = await _claim_and_load(db, service.clock.now(), batch_size)
    writing: asyncio.Future | None = None
    following: asyncio.Future | None = None
    more = True
    try:
        while claimed.timers:
            planned = await _plan(service, claimed)
            more = more and len(claimed.timers) == batch_size
            # Asked for before the write of the batch before ends: on SQLite (one database
            # thread, calls in order) the claim then runs right after that write, and this
            # batch's write right after the claim, instead of the thread waiting for this
            # process to build each next statement (docs/benchmarks.md, "round 10").
            following = asyncio.ensure_future(_claim_and_load(db, service.clock.now(), batch_size)) if more else None
            if writing is not None:
                result = await writing
                total.add(result)
                # A batch that made no progress (all lost to another process, or all
                # refused) ends the sweep after the batch already claimed.
                if result.fired + result.cancelled == 0:
                    more = False
            writing = asyncio.ensure_future(_write(service, planned))
            claimed = await following if following is not None else _Claimed([], {})
            following = None
        if writing is not None:
            total.add(await writing)
    except BaseException:
        # The batch being written is one transaction, and so is the claim: let them end
        # (committed or rolled back) before giving up; timers claimed but not written wait
        # for their lease.
        for task in (writing, following):
            if task is not None and not task.done():
                await asyncio.wait([task])
            if task is not None and task.done() and not task.cancelled():
                task.exception()  # reported with the original error, not as "never retrieved"
        raise
    return total


@dataclass
class _Planned:
    timers: list[dict]
    batch: Batch
    result: SweepResult


async def _plan(service: FlowService, claimed: _Claimed) -> _Planned:
    records = claimed.records
    # A version published by another process since this one last looked is loaded first.
    for name, version in {(r.flow_name, r.flow_version) for r in records.values()}:
        try:
            await publication.ensure_known(service.db, service.registry, name, version)
        except UnknownFlow:  # its timers fail below, one by one; the others fire
            log.warning("Flow %r has no version %s: its instances' timers cannot fire", name, version)
    batch = service.batch()
    result = SweepResult()
    for position, timer in enumerate(claimed.timers):
        if position % PLAN_YIELD_EVERY == 0:
            # Planning is Python without I/O. Meanwhile the batch before is written, one
            # statement per round trip, and each next statement leaves only when the event
            # loop runs: without these pauses it waited for the whole plan, and the
            # database and Python took turns instead of working at the same time.
            await asyncio.sleep(0)
        try:
            # Most due timers of a batch share (flow version, state, event, context): the
            # machine runs once per distinct input (workflows.engine.Flow.run).
            outcome = batch.fire_timer(records.get(timer["instance"]), timer["id"], timer["event"])
        except Exception:  # a guard or an action raised: nothing of this timer is planned
            log.exception("Timer %s (%s of instance %s) failed; it stays pending", timer["id"], timer["event"], timer["instance"])
            result.failed.append(timer["id"])
            continue
        if outcome == "fired":
            result.fired += 1
        elif outcome == "cancelled":
            result.cancelled += 1
    return _Planned(claimed.timers, batch, result)


async def fire_claimed(service: FlowService, timers: list[dict]) -> SweepResult:
    """Fire claimed timers (in due order) through the engine's write path, as one
    transaction: set-based statements for the whole batch, as a request writes its one
    event. If that transaction loses a race or the database refuses it, the batch is
    split in halves and each is fired again from freshly loaded instances, so every other
    timer still fires once and only the offending one is left pending (and reported)."""
    records = await instances.load_many(service.db, sorted({t["instance"] for t in timers}))
    return await _write(service, await _plan(service, _Claimed(timers, records)))


async def _write(service: FlowService, planned: _Planned) -> SweepResult:
    timers = planned.timers
    try:
        await service.write(planned.batch)
    except Exception as exc:
        if not isinstance(exc, ConflictError) and not refused_by_database(exc):
            raise
        if len(timers) > 1:
            middle = len(timers) // 2
            result = await fire_claimed(service, timers[:middle])
            result.add(await fire_claimed(service, timers[middle:]))
            return result
        if isinstance(exc, ConflictError):  # another process or a user changed the instance first
            return SweepResult(conflicts=1)
        (timer,) = timers
        log.error("Timer %s (%s of instance %s) was refused by the database, it stays pending: %s",
                  timer["id"], timer["event"], timer["instance"], exc)
        return SweepResult(failed=[timer["id"]])
    return planned.result
