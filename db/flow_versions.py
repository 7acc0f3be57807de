"""Stored flow versions, which one is published, and instances per version: queries only."""

from __future__ import annotations

import asyncio
from datetime import datetime

from db.engine import Database, Sql, Step
from db.funnel import as_datetime
from db.tables import FlowDefinitionSnapshot, FlowInstance, FlowPublication, TransitionHistory


async def publications(db: Database) -> dict[str, dict]:
    """flow name -> {flow_version, published_at, published_by}."""
    rows = await db.fetch(
        FlowPublication.select(
            FlowPublication.flow_name, FlowPublication.flow_version, FlowPublication.published_at, FlowPublication.published_by
        )
    )
    return {row["flow_name"]: row for row in rows}


async def stored_keys(db: Database) -> set[tuple[str, int]]:
    rows = await db.fetch(FlowDefinitionSnapshot.select(FlowDefinitionSnapshot.flow_name, FlowDefinitionSnapshot.flow_version))
    return {(row["flow_name"], row["flow_version"]) for row in rows}


async def stored(db: Database, name: str, version: int) -> dict | None:
    return await db.fetch_one(
        FlowDefinitionSnapshot.select().where(
            (FlowDefinitionSnapshot.flow_name == name) & (FlowDefinitionSnapshot.flow_version == version)
        )
    )


async def stored_versions(db: Database, name: str) -> list[dict]:
    """Every stored version of a flow, oldest first, without its text."""
    return await db.fetch(
        FlowDefinitionSnapshot.select(
            FlowDefinitionSnapshot.flow_version, FlowDefinitionSnapshot.created_at,
            FlowDefinitionSnapshot.published_at, FlowDefinitionSnapshot.published_by,
        ).where(FlowDefinitionSnapshot.flow_name == name).order_by(FlowDefinitionSnapshot.flow_version)
    )


async def highest_version(db: Database, name: str) -> int:
    rows = await db.fetch(
        FlowDefinitionSnapshot.select(FlowDefinitionSnapshot.flow_version)
        .where(FlowDefinitionSnapshot.flow_name == name)
        .order_by(FlowDefinitionSnapshot.flow_version, ascending=False)
        .limit(1)
    )
    return rows[0]["flow_version"] if rows else 0


def snapshot_step(
    name: str, version: int, sha256: str, text: str, now: datetime, published_by: str | None, if_missing: bool = False
) -> Step:
    """Store a version's text; `published_by` None stores it without publishing it.
    `if_missing`: a row another process stored first is left alone (same file, same text)."""
    query = FlowDefinitionSnapshot.insert(
        FlowDefinitionSnapshot(
            flow_name=name, flow_version=version, sha256=sha256, text=text, created_at=now,
            published_at=now if published_by is not None else None, published_by=published_by or "",
        )
    )
    return Step(query.on_conflict(action="DO NOTHING") if if_missing else query)


def retext_step(name: str, version: int, sha256: str, text: str) -> Step:
    """A version's stored text with changed translations only (workflows/flow_snapshots.py)."""
    return Step(
        FlowDefinitionSnapshot.update({FlowDefinitionSnapshot.sha256: sha256, FlowDefinitionSnapshot.text: text}).where(
            (FlowDefinitionSnapshot.flow_name == name) & (FlowDefinitionSnapshot.flow_version == version)
        )
    )


def mark_published_step(name: str, version: int, now: datetime, actor: str) -> Step:
    return Step(
        FlowDefinitionSnapshot.update(
            {FlowDefinitionSnapshot.published_at: now, FlowDefinitionSnapshot.published_by: actor}
        ).where((FlowDefinitionSnapshot.flow_name == name) & (FlowDefinitionSnapshot.flow_version == version))
    )


def swap_publication_step(name: str, expected: int | None, version: int, now: datetime, actor: str) -> Step:
    """Make `version` the published one, but only if `expected` still is (None: none is
    yet): one conditional statement, so of two publishers exactly one gets its row
    back; the other's whole transaction rolls back with ConflictError."""
    if expected is None:
        query = Sql(
            FlowPublication,
            'INSERT INTO "flow_publication" ("flow_name", "flow_version", "published_at", "published_by") '
            'VALUES ({}, {}, {}, {}) ON CONFLICT ("flow_name") DO NOTHING RETURNING "id"',
            name, version, now, actor,
        )
    else:
        query = (
            FlowPublication.update(
                {FlowPublication.flow_version: version, FlowPublication.published_at: now, FlowPublication.published_by: actor}
            )
            .where((FlowPublication.flow_name == name) & (FlowPublication.flow_version == expected))
            .returning(FlowPublication.id)
        )
    return Step(query, expect_rows=1)


async def instances_per_version(db: Database, name: str) -> dict[int, int]:
    rows = await db.fetch(
        Sql(
            FlowInstance,
            'SELECT "flow_version", count(*) AS "n" FROM "flow_instance" WHERE "flow_name" = {} GROUP BY "flow_version"',
            name,
        )
    )
    return {row["flow_version"]: row["n"] for row in rows}


async def instances_per_state(db: Database, name: str, version: int) -> dict[str, int]:
    rows = await db.fetch(
        Sql(
            FlowInstance,
            'SELECT "state", count(*) AS "n" FROM "flow_instance" WHERE "flow_name" = {} AND "flow_version" = {} GROUP BY "state"',
            name, version,
        )
    )
    return {row["state"]: row["n"] for row in rows}


async def count_started(db: Database, name: str, since: datetime, until: datetime) -> int:
    row = await db.fetch_one(Sql(
        FlowInstance,
        'SELECT count(*) AS "n" FROM "flow_instance" WHERE "flow_name" = {} AND "created_at" >= {} AND "created_at" <= {}',
        name, since, until,
    ))
    return int(row["n"]) if row else 0


async def histories_since(db: Database, name: str, since: datetime, batch: int = 5000, until: datetime | None = None,
                          after: int = 0):
    """(instance id, current state, its history rows oldest first) of every instance of
    `name` started since then (and until `until`), with an id above `after`, `batch`
    instances per round trip (keyset by id). The next batch is read while the caller
    works on this one (the simulation's replay and its reads take about as long)."""
    next_batch = asyncio.ensure_future(_history_batch(db, name, since, until, after, batch))
    try:
        while (found := await next_batch) is not None:
            instances, by_instance = found
            next_batch = asyncio.ensure_future(_history_batch(db, name, since, until, instances[-1]["id"], batch))
            for row in instances:
                yield row["id"], row["state"], by_instance[row["id"]]
    finally:
        next_batch.cancel()


async def _history_batch(db: Database, name: str, since: datetime, until: datetime | None, after: int, batch: int):
    """Raw SQL for the history: Piccolo's row building cost more than the query."""
    # Walk the primary key from `after`: SQLite would otherwise pick the index on
    # flow_name and sort every instance of the flow for each batch ("+" disables it).
    flow = '+"flow_name"' if db.is_sqlite else '"flow_name"'
    instances = await db.fetch(Sql(
        FlowInstance,
        f'SELECT "id", "state" FROM "flow_instance" WHERE "id" > {{}} AND {flow} = {{}} AND "created_at" >= {{}} '
        + ('AND "created_at" <= {} ' if until is not None else "") + 'ORDER BY "id" LIMIT {}',
        *([after, name, since] + ([until] if until is not None else []) + [batch]),
    ))
    if not instances:
        return None
    ids = [row["id"] for row in instances]
    columns = 'SELECT "instance", "event", "to_state", "actor", "created_at" FROM "transition_history" WHERE '
    if db.is_sqlite:
        marks = ", ".join(["{}"] * len(ids))  # SQLite allows 32 766 parameters
        query = Sql(TransitionHistory, columns + f'"instance" IN ({marks}) ORDER BY "instance", "id"', *ids)
    else:
        query = Sql(TransitionHistory, columns + '"instance" = ANY({}::int[]) ORDER BY "instance", "id"', ids)
    by_instance: dict[int, list[dict]] = {i: [] for i in ids}
    for row in await db.fetch(query):
        row["created_at"] = as_datetime(row["created_at"])
        by_instance[row["instance"]].append(row)
    return instances, by_instance
