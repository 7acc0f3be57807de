"""Flow instances as records, and loading them (db/transitions.py writes them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.batching import MAX_PARAMETERS, is_postgres, marks
from db.engine import Database, Sql
from db.tables import FlowInstance


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


# SELECT_COLUMNS, written out (same result keys) as an `Sql` template: loading is on every
# request's path, and Piccolo's query builder is the larger part of its cost.
_SELECT_INSTANCE = (
    'SELECT "flow_instance"."id" AS "id", "flow_instance"."organisation" AS "organisation", '
    '"flow_instance"."account" AS "account", "flow_instance"."flow_name" AS "flow_name", '
    '"flow_instance"."flow_version" AS "flow_version", "flow_instance"."state" AS "state", '
    '"flow_instance"."version" AS "version", "flow_instance"."context" AS "context", '
    '"flow_instance"."created_at" AS "created_at", "flow_instance"."updated_at" AS "updated_at", '
    '"flow_instance$account"."email" AS "recipient" '
    'FROM "flow_instance" LEFT JOIN "account" "flow_instance$account" '
    'ON ("flow_instance"."account" = "flow_instance$account"."id") WHERE '
)
async def load(db: Database, instance_id: int, organisation_id: int | None = None) -> InstanceRecord | None:
    """The instance, or None; with organisation_id, another organisation's instance is None too."""
    if organisation_id is None:
        query = Sql(FlowInstance, _SELECT_INSTANCE + '"flow_instance"."id" = {}', instance_id)
    else:
        query = Sql(
            FlowInstance,
            _SELECT_INSTANCE + '("flow_instance"."id" = {} AND "flow_instance"."organisation" = {})',
            instance_id,
            organisation_id,
        )
    row = await db.fetch_one(query)
    return record_from_row(row) if row else None


def load_many_queries(instance_ids: list[int]) -> list[Sql]:
    """The statements that read these instances (one, or on SQLite one per chunk of ids)."""
    if is_postgres(FlowInstance):
        return [Sql(FlowInstance, _SELECT_INSTANCE + '"flow_instance"."id" = ANY({}::int[])', list(instance_ids))]
    return [
        Sql(FlowInstance, _SELECT_INSTANCE + '"flow_instance"."id" IN (' + marks(len(chunk)) + ")", *chunk)
        for chunk in (list(instance_ids[start : start + MAX_PARAMETERS]) for start in range(0, len(instance_ids), MAX_PARAMETERS))
    ]


def records_from_rows(rows: list[dict[str, Any]]) -> dict[int, InstanceRecord]:
    return {row["id"]: record_from_row(row) for row in rows}


async def load_many(db: Database, instance_ids: list[int]) -> dict[int, InstanceRecord]:
    rows = []
    for query in load_many_queries(instance_ids) if instance_ids else []:
        rows += await db.fetch(query)
    return records_from_rows(rows)
