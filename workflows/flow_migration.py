"""Apply a state mapping to the instances of one flow version: all at once (the CLI) or
in batches with a progress row (the studio's Migrieren page), each batch one transaction.

Pending timers follow the new version: a timer the new version still has, in a state
where it is active, keeps its start and takes the new duration (started at T with 720 h,
now 336 h: due at T + 336 h); any other pending timer is cancelled."""

from __future__ import annotations

from datetime import datetime

from db import flow_migrations, funnel
from db.audit import audit_step
from db.engine import Database, Step
from db.tables import FlowInstance, Timer, TransitionHistory
from workflows.definition import FlowDefinition

MIGRATE_EVENT = "migrate_flow"  # the history row's event: not an event of any flow


async def migrate_instances(
    db: Database, old: FlowDefinition, new: FlowDefinition, mapping: dict[str, str], now: datetime, actor: str
) -> int:
    rows = await _instances(db, old, None)
    if not rows:
        return 0
    await db.write(await _steps(db, rows, old, new, mapping, now, actor))
    return len(rows)


async def migrate_batch(
    db: Database, migration: dict, old: FlowDefinition, new: FlowDefinition, now: datetime, limit: int = 200
) -> int:
    """The next `limit` instances of the migration, with its progress, in one transaction;
    returns how many moved (0: done, and the migration is marked so). A crash between
    batches loses nothing: the instances not yet moved are still on the old version."""
    rows = await _instances(db, old, limit)
    if not rows:
        await db.write([flow_migrations.finish_step(migration["id"], now)])
        return 0
    steps = await _steps(db, rows, old, new, migration["mapping"], now, migration["created_by"])
    steps.append(flow_migrations.progress_step(migration["id"], len(rows), now))
    if len(rows) < limit:  # the last batch: nothing is left on the old version
        steps.append(flow_migrations.finish_step(migration["id"], now))
    await db.write(steps)
    return len(rows)


async def _instances(db: Database, old: FlowDefinition, limit: int | None) -> list[dict]:
    query = FlowInstance.select(FlowInstance.id, FlowInstance.organisation, FlowInstance.state, FlowInstance.version).where(
        (FlowInstance.flow_name == old.name) & (FlowInstance.flow_version == old.version)
    ).order_by(FlowInstance.id)
    return await db.fetch(query.limit(limit) if limit else query)


async def _steps(
    db: Database, rows: list[dict], old: FlowDefinition, new: FlowDefinition, mapping: dict[str, str], now: datetime, actor: str
) -> list[Step]:
    steps: list[Step] = []
    for row in rows:
        steps.append(
            Step(
                FlowInstance.update(
                    {
                        FlowInstance.flow_version: new.version,
                        FlowInstance.state: mapping[row["state"]],
                        FlowInstance.version: FlowInstance.version + 1,
                        FlowInstance.updated_at: now,
                    }
                )
                .where((FlowInstance.id == row["id"]) & (FlowInstance.version == row["version"]))
                .returning(FlowInstance.id),
                expect_rows=1,
            )
        )
    steps.append(
        Step(
            TransitionHistory.insert(
                *[
                    TransitionHistory(
                        instance=row["id"],
                        organisation=row["organisation"],
                        event=MIGRATE_EVENT,
                        from_state=row["state"],
                        to_state=mapping[row["state"]],
                        actor=actor,
                        details={"from_version": old.version, "to_version": new.version},
                        created_at=now,
                    )
                    for row in rows
                ]
            )
        )
    )
    steps.extend(await _timer_steps(db, rows, old, new, mapping))
    # The funnel's counters move with the instances (new version counts them, old no longer).
    moves = [(row["id"], row["organisation"], row["state"], mapping[row["state"]]) for row in rows]
    steps.extend(await funnel.migration_steps(db, old.name, moves, MIGRATE_EVENT, new.version, actor, now))
    return steps


async def _timer_steps(db: Database, rows: list[dict], old: FlowDefinition, new: FlowDefinition, mapping: dict[str, str]) -> list[Step]:
    new_state = {row["id"]: mapping[row["state"]] for row in rows}
    pending = await db.fetch(
        Timer.select(Timer.id, Timer.instance, Timer.event, Timer.due_at).where(
            (Timer.status == "pending") & Timer.instance.is_in(sorted(new_state))
        )
    )
    cancel, steps = [], []
    for timer in pending:
        before, after = old.timer(timer["event"]), new.timer(timer["event"])
        if after is None or before is None or new_state[timer["instance"]] not in after.active_in:
            cancel.append(timer["id"])  # the new version would never fire it here
        elif after.after != before.after:
            due = timer["due_at"] - before.after + after.after
            steps.append(Step(Timer.update({Timer.due_at: due}).where(Timer.id == timer["id"])))
    if cancel:
        steps.append(Step(Timer.update({Timer.status: "cancelled"}).where(Timer.id.is_in(cancel))))
    return steps


def started_steps(name: str, old: FlowDefinition, new: FlowDefinition, mapping: dict[str, str], total: int,
                  actor: str, now: datetime, client_ip: str = "") -> list[Step]:
    """The migration's progress row and its audit entry (who, when, the mapping)."""
    return [
        flow_migrations.create_step(name, old.version, new.version, mapping, total, actor, now),
        audit_step("flow_migration_started", now, actor=actor, client_ip=client_ip, details={
            "flow": name, "from_version": old.version, "to_version": new.version,
            "mapping": {s: t for s, t in mapping.items() if s != t}, "instances": total,
        }),
    ]
