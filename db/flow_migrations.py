"""Progress rows of flow migrations (the studio's Migrieren page): queries only."""

from __future__ import annotations

import json
from datetime import datetime

from db.engine import Database, Step
from db.tables import FlowMigration

RUNNING, FINISHED = "running", "finished"


def create_step(name: str, from_version: int, to_version: int, mapping: dict, total: int, actor: str, now: datetime) -> Step:
    return Step(
        FlowMigration.insert(
            FlowMigration(flow_name=name, from_version=from_version, to_version=to_version, mapping=mapping, total=total,
                          moved=0, status=RUNNING, created_by=actor, created_at=now, updated_at=now)
        ).returning(FlowMigration.id),
        expect_rows=1,
    )


def progress_step(migration_id: int, moved: int, now: datetime) -> Step:
    return Step(
        FlowMigration.update({FlowMigration.moved: FlowMigration.moved + moved, FlowMigration.updated_at: now})
        .where((FlowMigration.id == migration_id) & (FlowMigration.status == RUNNING))
        .returning(FlowMigration.id),
        expect_rows=1,
    )


def finish_step(migration_id: int, now: datetime) -> Step:
    return Step(
        FlowMigration.update({FlowMigration.status: FINISHED, FlowMigration.updated_at: now}).where(FlowMigration.id == migration_id)
    )


async def get(db: Database, migration_id: int) -> dict | None:
    row = await db.fetch_one(FlowMigration.select().where(FlowMigration.id == migration_id))
    if row is not None and isinstance(row["mapping"], str):
        row["mapping"] = json.loads(row["mapping"])
    return row


async def running(db: Database, name: str, from_version: int) -> dict | None:
    row = await db.fetch_one(
        FlowMigration.select(FlowMigration.id).where(
            (FlowMigration.flow_name == name) & (FlowMigration.from_version == from_version) & (FlowMigration.status == RUNNING)
        )
    )
    return await get(db, row["id"]) if row else None
