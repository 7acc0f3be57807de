"""Load flow instances and turn engine outcomes into the statements of one transaction."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from piccolo.columns import JSON, JSONB, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.utils.encoding import dump_json

from db import funnel
from db.engine import Database, Deferred, Sql, Step
from db.tables import Account, AttemptCounter, Device, FlowInstance, InvitationLink, Outbox, Timer, TransitionHistory, WebSession
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


def chained(first: Change, following: list[Outcome]) -> list[Change]:
    """`first` and the automatic transitions that followed it, each change reading the
    state and version the one before it wrote (persist them in this order)."""
    changes, record = [first], first.record
    for outcome in following:
        previous = changes[-1].outcome
        record = replace(record, state=previous.target, version=record.version + 1, context=previous.context)
        changes.append(Change(record, outcome, first.actor, first.client_ip, first.details))
    return changes


def chain_steps(changes: list[Change], now: datetime) -> list[Step]:
    """The statements of chained changes of one instance, in order (each version-checked)."""
    return [step for change in changes for step in change_steps([change], now)]


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


# The hot paths below write their statements as `Sql` templates instead of building them
# with Piccolo's query builder: same SQL, same arguments, but building a transition's
# statements went from ~0.9 ms to ~0.05 ms (docs/benchmarks.md).

# SELECT_COLUMNS, written out (same result keys).
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
# Statements stay below SQLite's and PostgreSQL's limit of 32 766 parameters.
_MAX_PARAMETERS = 30_000
_SQLITE_OR_TERMS = 400


def _marks(count: int) -> str:
    return ", ".join(["{}"] * count)


def _postgres(table) -> bool:
    """On PostgreSQL, lists travel as one array parameter (`= ANY(array)`, `unnest`): one
    prepared statement whatever the batch size, and no 1 000-term OR for the planner (a
    batch UPDATE of 500 version-checked rows: ~20 ms as an OR chain, ~2 ms joined to unnest)."""
    return table._meta.db.engine_type == "postgres"


@functools.lru_cache(maxsize=128)
def _array_types(table, columns: tuple[str, ...]) -> tuple[str, ...] | None:
    types = []
    for name in columns:
        column = table._meta.get_column_by_name(name)
        for kinds, array_type in _ARRAY_TYPES:
            if isinstance(column, kinds):
                types.append(array_type)
                break
        else:
            return None
    return tuple(types)


@functools.lru_cache(maxsize=128)
def _insert_templates(table, columns: tuple[str, ...], postgres: bool) -> tuple[str, str, str]:
    """(the PostgreSQL unnest INSERT or "", the "INSERT ... VALUES " head, one row's "(...)")."""
    head = f'INSERT INTO "{table._meta.tablename}" (' + ",".join(f'"{c}"' for c in columns) + ") "
    unnest = ""
    if postgres and (types := _array_types(table, columns)):
        unnest = head + "SELECT * FROM unnest(" + ", ".join(f"{{}}::{t}[]" for t in types) + ') RETURNING "id"'
    return unnest, head + "VALUES ", "(" + _marks(len(columns)) + ")"


def _insert(table, columns: tuple[str, ...], rows: list[tuple]) -> list[Step]:
    """Multi-row INSERT ... RETURNING "id", as Piccolo's insert of table objects sends it
    (on PostgreSQL: one INSERT ... SELECT FROM unnest of one array per column)."""
    unnest, head, row = _insert_templates(table, columns, _postgres(table))
    if unnest:
        return [Step(Sql(table, unnest, *[list(values) for values in zip(*rows)]))]
    per_statement = max(1, _MAX_PARAMETERS // len(columns))
    steps = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = [value for r in chunk for value in r]
        steps.append(Step(Sql(table, head + ",".join([row] * len(chunk)) + ' RETURNING "id"', *values)))
    return steps


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


async def load_many(db: Database, instance_ids: list[int]) -> dict[int, InstanceRecord]:
    if not instance_ids:
        return {}
    if _postgres(FlowInstance):
        query = Sql(FlowInstance, _SELECT_INSTANCE + '"flow_instance"."id" = ANY({}::int[])', list(instance_ids))
        return {row["id"]: record_from_row(row) for row in await db.fetch(query)}
    rows = []
    per_statement = _MAX_PARAMETERS
    for start in range(0, len(instance_ids), per_statement):
        chunk = list(instance_ids[start : start + per_statement])
        where = '"flow_instance"."id" IN (' + _marks(len(chunk)) + ")"
        rows += await db.fetch(Sql(FlowInstance, _SELECT_INSTANCE + where, *chunk))
    return {row["id"]: record_from_row(row) for row in rows}


def start_steps(change: Change, now: datetime, following: list[Outcome] | tuple = ()) -> list[Step | Deferred]:
    """Insert a new instance already in the outcome's target state, with the history,
    timers and outbox rows of its first event (and of the automatic transitions
    `following` it), in the same transaction."""
    record, outcome = change.record, change.outcome
    (insert,) = _insert(
        FlowInstance,
        ("organisation", "account", "flow_name", "flow_version", "state", "version", "context", "created_at", "updated_at"),
        [
            (
                record.organisation_id,
                record.account_id,
                record.flow_name,
                record.flow_version,
                outcome.target,
                1,
                dump_json(outcome.context),
                now,
                now,
            )
        ],
    )
    insert = Step(insert.query, expect_rows=1)

    def effects(results) -> list[Step]:
        record.id = results[-1][0]["id"]  # the INSERT just before
        record.state, record.version, record.context = outcome.target, 1, outcome.context
        # Version 0 "read": the INSERT wrote version 1, which the first follower reads.
        later = chained(Change(replace(record, version=0), outcome, change.actor, change.client_ip, change.details), list(following))[1:]
        if later:
            last = later[-1]
            record.state, record.version, record.context = last.outcome.target, last.record.version + 1, last.outcome.context
        return effect_steps([change], now) + chain_steps(later, now)

    return [insert, Deferred(effects)]


def change_steps(changes: list[Change], now: datetime) -> list[Step]:
    """Statements that persist all changes together: state (version-checked), history,
    timers and outbox. Set-based, so a batch of many changes costs a handful of statements."""
    if not changes:
        return []
    return _instance_updates(changes, now) + effect_steps(changes, now)


def effect_steps(changes: list[Change], now: datetime) -> list[Step]:
    """History, timers and outbox rows of changes whose instance rows are written."""
    # The funnel's counters read the history as it was before these changes (first) and
    # update shared counter rows, which stay locked until the commit (last).
    read_history, write_counters = funnel.counter_steps(changes, now)
    steps: list = read_history
    steps += _insert(TransitionHistory, _HISTORY_COLUMNS, [_history_row(c, now) for c in changes])
    steps.extend(_timer_cancellations(changes))
    new_timers = [
        (c.record.id, event, due, "pending", None) for c in changes for event, due in c.outcome.timers_to_start
    ]
    if new_timers:
        steps.extend(_insert(Timer, ("instance", "event", "due_at", "status", "fired_at"), new_timers))
    mails = [_outbox_row(c, kind, now) for c in changes for kind in c.outcome.mails]
    if mails:
        steps.extend(_insert(Outbox, _OUTBOX_COLUMNS, mails))
    steps.extend(_record_steps(changes, now))
    steps.extend(write_counters)
    return steps


def _record_steps(changes: list[Change], now: datetime) -> list[Step]:
    """Statements for the named record effects of workflows/actions.py."""

    def instances_with(effect: str) -> list[int]:
        return [c.record.id for c in changes if effect in c.outcome.records]

    def accounts_with(effect: str) -> list[int]:
        return [c.record.account_id for c in changes if effect in c.outcome.records and c.record.account_id]

    steps = []
    if ids := instances_with("end_links"):
        steps += _update_in(
            InvitationLink,
            'UPDATE "invitation_link" SET "ended_at" = {} WHERE ("invitation_link"."instance" IN ({ids}) '
            'AND "invitation_link"."ended_at" IS NULL)',
            [now],
            ids,
        )
    if ids := accounts_with("end_sessions"):
        steps += _update_in(
            WebSession,
            'UPDATE "web_session" SET "ended_at" = {} WHERE ("web_session"."account" IN ({ids}) '
            'AND "web_session"."ended_at" IS NULL)',
            [now],
            ids,
        )
    if ids := accounts_with("revoke_devices"):
        steps.append(Step(Device.update({Device.revoked_at: now}).where(
            Device.account.is_in(ids) & Device.revoked_at.is_null()
        )))
    if ids := instances_with("reset_attempts"):
        steps.append(Step(AttemptCounter.update({AttemptCounter.count: 0, AttemptCounter.updated_at: now}).where(
            AttemptCounter.scope.is_in([f"registration:{i}" for i in ids])
        )))
    for account_id in accounts_with("anonymise_person"):
        # Keeps the unique (organisation, email) index satisfied; no real address.
        steps.append(Step(Sql(
            Account,
            'UPDATE "account" SET "salutation" = {}, "first_name" = {}, "last_name" = {}, "email" = {} '
            'WHERE "account"."id" = {}',
            "", "", "", f"geloescht-{account_id}@anonym.invalid", account_id,
        )))
    if ids := instances_with("anonymise_person"):
        steps += _update_in(
            Outbox,
            'UPDATE "outbox" SET "recipient" = {}, "status" = {} WHERE ("outbox"."instance" IN ({ids}) '
            'AND "outbox"."status" = {})',
            ["", "cancelled"],
            ids,
            ["pending"],
        )
        steps += _update_in(Outbox, 'UPDATE "outbox" SET "recipient" = {} WHERE "outbox"."instance" IN ({ids})', [""], ids)
    return steps


def _update_in(table, template: str, before: list, ids: list[int], after: tuple | list = ()) -> list[Step]:
    """One UPDATE per chunk of ids; `{ids}` in the template becomes the chunk's placeholders
    (on PostgreSQL: `IN ({ids})` becomes `= ANY(one array)`)."""
    if _postgres(table):
        return [Step(Sql(table, template.replace("IN ({ids})", "= ANY({}::int[])"), *before, list(ids), *after))]
    per_statement = _MAX_PARAMETERS - len(before) - len(after)
    return [
        Step(Sql(table, template.replace("{ids}", _marks(len(chunk))), *before, *chunk, *after))
        for chunk in (ids[start : start + per_statement] for start in range(0, len(ids), per_statement))
    ]


def _instance_updates(changes: list[Change], now: datetime) -> list[Step]:
    # Changes with the same new state and context share one UPDATE; the WHERE
    # clause lists each (id, version) read, so any concurrent change is a conflict.
    groups: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for change in changes:
        context = change.outcome.context
        key = (change.outcome.target, json.dumps(context, sort_keys=True) if context else "{}")
        groups[key].append(change)
    steps = []
    for (target, context_json), group in groups.items():
        if _postgres(FlowInstance):
            query = Sql(
                FlowInstance,
                'UPDATE "flow_instance" SET "state" = {}, "context" = {}, "version" = "flow_instance"."version" + 1, '
                '"updated_at" = {} FROM unnest({}::int[], {}::int[]) AS "read"("id", "version") '
                'WHERE "flow_instance"."id" = "read"."id" AND "flow_instance"."version" = "read"."version" '
                'RETURNING "flow_instance"."id"',
                target,
                context_json,
                now,
                [c.record.id for c in group],
                [c.record.version for c in group],
            )
            steps.append(Step(query, expect_rows=len(group)))
            continue
        # SQLite parses an OR chain into a tree as deep as it is long and refuses more than
        # 1 000 levels ("Expression tree is too large"): a sweep batch of 2 000 failed.
        for start in range(0, len(group), _SQLITE_OR_TERMS):
            chunk = group[start : start + _SQLITE_OR_TERMS]
            clause = " OR ".join(["(id = {} AND version = {})"] * len(chunk))
            args = [value for c in chunk for value in (c.record.id, c.record.version)]
            query = Sql(
                FlowInstance,
                'UPDATE "flow_instance" SET "state" = {}, "context" = {}, "version" = "version" + 1, '
                f'"updated_at" = {{}} WHERE ({clause}) RETURNING "id"',
                target,
                context_json,
                now,
                *args,
            )
            steps.append(Step(query, expect_rows=len(chunk)))
    return steps


def _timer_cancellations(changes: list[Change]) -> list[Step]:
    groups: dict[frozenset[str], list[int]] = defaultdict(list)
    for change in changes:
        if change.outcome.timers_to_cancel:
            groups[frozenset(change.outcome.timers_to_cancel)].append(change.record.id)
    steps = []
    for events, ids in groups.items():
        names = sorted(events)
        if _postgres(Timer):
            query = Sql(
                Timer,
                'UPDATE "timer" SET "status" = {} WHERE "timer"."status" = {} '
                'AND "timer"."instance" = ANY({}::int[]) AND "timer"."event" = ANY({}::text[])',
                "cancelled",
                "pending",
                ids,
                names,
            )
            steps.append(Step(query))
            continue
        for start in range(0, len(ids), _MAX_PARAMETERS):
            chunk = ids[start : start + _MAX_PARAMETERS]
            query = Sql(
                Timer,
                'UPDATE "timer" SET "status" = {} WHERE "timer"."status" = {} '
                f'AND "timer"."instance" IN ({_marks(len(chunk))}) AND "timer"."event" IN ({_marks(len(names))})',
                "cancelled",
                "pending",
                *chunk,
                *names,
            )
            steps.append(Step(query))
    return steps


_ARRAY_TYPES = (
    ((ForeignKey, Serial, Integer), "int"),
    ((Varchar, Text), "text"),
    ((JSONB,), "jsonb"),
    ((JSON,), "json"),
    ((Timestamptz,), "timestamptz"),
)
_HISTORY_COLUMNS = (
    "instance", "organisation", "event", "from_state", "to_state", "actor", "client_ip", "details", "created_at"
)
_OUTBOX_COLUMNS = (
    "organisation", "instance", "kind", "recipient", "payload", "status", "attempts", "next_attempt_at",
    "last_error", "created_at", "sent_at",
)


def _history_row(change: Change, now: datetime) -> tuple:
    outcome = change.outcome
    details = {"flow_version": change.record.flow_version, **change.details}
    if outcome.mails:
        details["mails"] = outcome.mails
    return (
        change.record.id,
        change.record.organisation_id,
        outcome.event,
        outcome.source,
        outcome.target,
        change.actor,
        change.client_ip,
        dump_json(details),
        now,
    )


def _outbox_row(change: Change, kind: str, now: datetime) -> tuple:
    payload = {"flow_version": change.record.flow_version, "state": change.outcome.target}
    return (
        change.record.organisation_id,
        change.record.id,
        kind,
        change.record.recipient,
        dump_json(payload),
        "pending",
        0,
        now,
        "",
        now,
        None,
    )
