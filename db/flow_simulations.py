"""Simulation jobs of drafts (flow studio, Vorschau): queries only.

A scheduler claims an unfinished simulation by a lease (`worker`, `lease_until`) in one
conditional UPDATE, so two processes never run the same one; each chunk's progress is
written only while the lease is still the writer's own, so a worker that lost its lease
(it stalled, another took over) stops at its next write instead of counting twice."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from db.engine import Database, Sql, Step
from db.tables import FlowSimulation

RUNNING, FINISHED, FAILED = "running", "finished", "failed"


def create_step(draft_id: int, flow_name: str, text: str, days: int, since: datetime, until: datetime, total: int,
                actor: str, now: datetime) -> Step:
    return Step(
        FlowSimulation.insert(
            FlowSimulation(draft=draft_id, flow_name=flow_name, text=text, days=days, since=since, until=until,
                           status=RUNNING, replayed=0, total=total, last_instance=0, summary="", worker="",
                           lease_until=None, created_by=actor, created_at=now, updated_at=now)
        ).returning(FlowSimulation.id),
        expect_rows=1,
    )


async def claim(db: Database, worker: str, now: datetime, lease: timedelta) -> int | None:
    """The id of one unfinished simulation nobody holds (or whose holder's lease ran out),
    now held by `worker`; None if there is none. The lease condition is repeated in the
    outer WHERE: on PostgreSQL a second claimer waiting on the row re-checks it after the
    first commits and gets no row."""
    free = '"status" = {} AND ("lease_until" IS NULL OR "lease_until" <= {})'
    rows = await db.write([Step(Sql(
        FlowSimulation,
        'UPDATE "flow_simulation" SET "worker" = {}, "lease_until" = {} WHERE "id" = '
        f'(SELECT "id" FROM "flow_simulation" WHERE {free} ORDER BY "id" LIMIT 1) AND {free} RETURNING "id"',
        worker, now + lease, RUNNING, now, RUNNING, now,
    ))])
    return rows[0][0]["id"] if rows[0] else None


def progress_step(simulation_id: int, worker: str, replayed: int, last_instance: int, summary: dict, now: datetime,
                  lease: timedelta, finished: bool) -> Step:
    """The chunk's progress (and the lease renewed), only if `worker` still holds it."""
    values = {
        FlowSimulation.replayed: replayed, FlowSimulation.last_instance: last_instance, FlowSimulation.summary: json.dumps(summary),
        FlowSimulation.updated_at: now, FlowSimulation.lease_until: None if finished else now + lease,
    }
    if finished:
        values[FlowSimulation.status] = FINISHED
    return Step(
        FlowSimulation.update(values)
        .where((FlowSimulation.id == simulation_id) & (FlowSimulation.worker == worker)
               & (FlowSimulation.status == RUNNING))
        .returning(FlowSimulation.id),
        expect_rows=1,
    )


def failed_step(simulation_id: int, worker: str, now: datetime) -> Step:
    return Step(
        FlowSimulation.update({FlowSimulation.status: FAILED, FlowSimulation.updated_at: now, FlowSimulation.lease_until: None})
        .where((FlowSimulation.id == simulation_id) & (FlowSimulation.worker == worker))
    )


async def get(db: Database, simulation_id: int) -> dict | None:
    row = await db.fetch_one(FlowSimulation.select().where(FlowSimulation.id == simulation_id))
    if row is not None:
        row["summary"] = json.loads(row["summary"]) if row["summary"] else None
    return row


async def latest_for_draft(db: Database, draft_id: int) -> dict | None:
    rows = await db.fetch(
        FlowSimulation.select(FlowSimulation.id).where(FlowSimulation.draft == draft_id)
        .order_by(FlowSimulation.id, ascending=False).limit(1)
    )
    return await get(db, rows[0]["id"]) if rows else None
