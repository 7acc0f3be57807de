"""Bulk-seed a migrated database with onboarding instances, fast, in raw SQL.

Every instance is in state `invited` (version 1) of flow `onboarding` v1 and has what the
engine would have written for its `invite` event: its account (recipient), one history row,
one outbox row (already sent), one live invitation link and the three pending timers of `invited`
(expire 720 h, remind_inactive 72 h, remind_expiring 672 h after the invitation, which lies
0-48 h before T0, so none of them is due at T0).

`due` of those timers are made due at T0 instead, on distinct instances: a share
`expire_share` (default half) are `expire` (-> expired: history + mail, the instance's other
timers cancelled, its links ended), the rest `remind_inactive` (internal transition: history +
reminder mail). Layout `block` (default): the expiring instances and the reminded ones are two
runs of consecutive ids, as in production, where ids follow creation time and a timer falls
due a fixed time after its instance's invitation; layout `spread`: evenly scattered over all
ids (the worst case for page locality).

The rows are generated inside the database (INSERT ... SELECT over a recursive CTE on
SQLite, generate_series on PostgreSQL) with secondary indexes and foreign keys dropped
during the load and recreated afterwards, exactly as the migrations defined them.

    python -m bench.seed --engine sqlite --instances 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import re
import sqlite3
import time
from pathlib import Path

from bench.common import (
    DEFAULT_PG_URL,
    DEFAULT_WORKDIR,
    T0,
    create_schema,
    fmt_count,
    pg_recreate_database,
    remove_sqlite,
    sqlite_path,
)

TIMERS = (("expire", 720), ("remind_inactive", 72), ("remind_expiring", 672))
TIMERS_PER_INSTANCE = len(TIMERS)
SEEDED_TABLES = ("organisation", "account", "flow_instance", "transition_history", "timer", "outbox", "invitation_link")


@functools.cache
def flow_version() -> int:
    """The shipped onboarding flow's version: seeded instances run on it (its snapshot is stored)."""
    from workflows.registry import FlowRegistry

    return FlowRegistry.from_directory().onboarding().version


def _history_details() -> str:
    return '{"flow_version": %d, "mails": ["invitation"]}' % flow_version()


def _outbox_payload() -> str:
    return '{"flow_version": %d, "state": "invited"}' % flow_version()


def organisations_for(instances: int) -> int:
    return max(1, min(1000, instances // 1000))


LAYOUTS = ("block", "spread")


def due_plan(instances: int, due: int, expire_share: float = 0.5, layout: str = "block") -> dict[str, int]:
    """Which instances get a due timer, and which kind (see _DUE_KIND)."""
    due = max(0, min(due, instances))
    expiring = round(due * expire_share)
    plan = {"spread": int(layout == "spread"), "stride": instances + 1, "ne": expiring, "due": due,
            "e0": 0, "r0": 0, "nr": due - expiring}
    if layout == "spread" and due:
        plan["stride"] = max(1, instances // due)
        plan["due"] = min(due, instances // plan["stride"])
    elif layout == "block":
        gap = (instances - due) // 3
        plan["e0"] = 1 + gap
        plan["r0"] = plan["e0"] + expiring + gap
    elif layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}")
    return plan


# 0: this instance's `expire` timer is due at T0, 1: its `remind_inactive` timer, NULL: none.
_DUE_KIND = (
    "(CASE WHEN :spread = 1 AND i % :stride = 0 AND i / :stride BETWEEN 1 AND :ne THEN 0 "
    "WHEN :spread = 1 AND i % :stride = 0 AND i / :stride BETWEEN :ne + 1 AND :due THEN 1 "
    "WHEN :spread = 0 AND i BETWEEN :e0 AND :e0 + :ne - 1 THEN 0 "
    "WHEN :spread = 0 AND i BETWEEN :r0 AND :r0 + :nr - 1 THEN 1 END)"
)


# -- SQLite ---------------------------------------------------------------------

# Timestamps as Piccolo's SQLite adapter writes them: str(datetime in UTC).
_SQ_TS = "(strftime('%Y-%m-%d %H:%M:%S', {epoch}, 'unixepoch') || '+00:00')"
_SQ_SERIES = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
_SQ_INVITED = ":t0 - (i * 7919) % 172800"


def _sqlite_statements() -> list[str]:
    ts = _SQ_TS.format
    timer_values = " UNION ALL ".join(f"SELECT {k}, '{e}', {h}" for k, (e, h) in enumerate(TIMERS))
    return [
        _SQ_SERIES.replace(":n", ":orgs")
        + f"INSERT INTO organisation (id, name, created_at) SELECT i, 'Organisation ' || i, {ts(epoch=':t0 - 864000')} FROM s",
        _SQ_SERIES + "INSERT INTO account (id, organisation, role, salutation, first_name, last_name, email, created_at) "
        f"SELECT i, 1 + (i - 1) % :orgs, 'staff', '', 'First' || i, 'Last' || i, 'user' || i || '@example.org', "
        f"{ts(epoch=_SQ_INVITED)} FROM s",
        _SQ_SERIES + "INSERT INTO flow_instance (id, organisation, account, flow_name, flow_version, state, version, "
        "context, created_at, updated_at) "
        f"SELECT i, 1 + (i - 1) % :orgs, i, 'onboarding', {flow_version()}, 'invited', 1, '{{}}', {ts(epoch=_SQ_INVITED)}, "
        f"{ts(epoch=_SQ_INVITED)} FROM s",
        _SQ_SERIES + "INSERT INTO transition_history (id, instance, organisation, event, from_state, to_state, actor, "
        "client_ip, details, created_at) "
        f"SELECT i, i, 1 + (i - 1) % :orgs, 'invite', 'new', 'invited', 'admin:' || (1 + (i - 1) % :orgs), "
        f"'192.0.2.1', '{_history_details()}', {ts(epoch=_SQ_INVITED)} FROM s",
        _SQ_SERIES + f", e(k, event, hours) AS ({timer_values}) "
        "INSERT INTO timer (id, instance, event, due_at, status, fired_at) "
        f"SELECT (i - 1) * {TIMERS_PER_INSTANCE} + k + 1, i, event, "
        f"CASE WHEN k = {_DUE_KIND} "
        f"THEN {ts(epoch=':t0 - 60 - i % 3600')} ELSE {ts(epoch=_SQ_INVITED + ' + hours * 3600')} END, "
        "'pending', NULL FROM s CROSS JOIN e",
        _SQ_SERIES + "INSERT INTO outbox (id, organisation, instance, kind, recipient, payload, status, attempts, "
        "next_attempt_at, last_error, created_at, sent_at) "
        f"SELECT i, 1 + (i - 1) % :orgs, i, 'invitation', 'user' || i || '@example.org', '{_outbox_payload()}', "
        f"'sent', 1, {ts(epoch=_SQ_INVITED)}, '', {ts(epoch=_SQ_INVITED)}, {ts(epoch=_SQ_INVITED + ' + 5')} FROM s",
        _SQ_SERIES + "INSERT INTO invitation_link (id, instance, token_hash, purpose, created_at, expires_at, ended_at) "
        f"SELECT i, i, printf('%064d', i), 'invitation', {ts(epoch=_SQ_INVITED)}, "
        f"{ts(epoch=_SQ_INVITED + ' + 720 * 3600')}, NULL FROM s",
    ]


def seed_sqlite_rows(path: Path, instances: int, due: int = 0, expire_share: float = 0.5, layout: str = "block") -> None:
    plan = due_plan(instances, due, expire_share, layout)
    params = {"n": instances, "orgs": organisations_for(instances), "t0": int(T0.timestamp()), **plan}
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-262144")  # 256 MiB for the index builds
        marks = ",".join("?" * len(SEEDED_TABLES))
        indexes = connection.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})",
            SEEDED_TABLES,
        ).fetchall()
        connection.execute("BEGIN")
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        for statement in _sqlite_statements():
            used = {k: v for k, v in params.items() if f":{k}" in statement}
            connection.execute(statement, used)
        for _, sql in indexes:
            connection.execute(sql)
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def seed_sqlite(path: Path, instances: int, due: int = 0, expire_share: float = 0.5, layout: str = "block") -> float:
    """A fresh, migrated, seeded SQLite file; returns the seconds it took."""
    start = time.perf_counter()
    remove_sqlite(path)
    asyncio.run(create_schema(f"sqlite:///{path}"))
    seed_sqlite_rows(path, instances, due, expire_share, layout)
    return time.perf_counter() - start


# -- PostgreSQL -----------------------------------------------------------------

_PG_INVITED = "(to_timestamp($3) - make_interval(secs => (i::bigint * 7919) % 172800))"


def _pg_statements() -> list[str]:
    timer_values = ", ".join(f"({k}, '{e}', {h})" for k, (e, h) in enumerate(TIMERS))
    return [
        "INSERT INTO organisation (id, name, created_at) "
        "SELECT i, 'Organisation ' || i, to_timestamp($3) - interval '10 days' FROM generate_series(1, $2::int) i",
        "INSERT INTO account (id, organisation, role, salutation, first_name, last_name, email, created_at) "
        "SELECT i, 1 + (i - 1) % $2, 'staff', '', 'First' || i, 'Last' || i, 'user' || i || '@example.org', "
        f"{_PG_INVITED} FROM generate_series(1, $1::int) i",
        "INSERT INTO flow_instance (id, organisation, account, flow_name, flow_version, state, version, context, "
        "created_at, updated_at) "
        f"SELECT i, 1 + (i - 1) % $2, i, 'onboarding', {flow_version()}, 'invited', 1, '{{}}', {_PG_INVITED}, {_PG_INVITED} "
        "FROM generate_series(1, $1::int) i",
        "INSERT INTO transition_history (id, instance, organisation, event, from_state, to_state, actor, client_ip, "
        "details, created_at) "
        "SELECT i, i, 1 + (i - 1) % $2, 'invite', 'new', 'invited', 'admin:' || (1 + (i - 1) % $2), '192.0.2.1', "
        f"'{_history_details()}', {_PG_INVITED} FROM generate_series(1, $1::int) i",
        "INSERT INTO timer (id, instance, event, due_at, status, fired_at) "
        f"SELECT (i - 1) * {TIMERS_PER_INSTANCE} + k + 1, i, event, "
        f"CASE WHEN k = {_DUE_KIND} "
        "THEN to_timestamp($3) - make_interval(secs => 60 + i % 3600) "
        f"ELSE {_PG_INVITED} + make_interval(hours => hours) END, 'pending', NULL "
        f"FROM generate_series(1, $1::int) i CROSS JOIN (VALUES {timer_values}) e(k, event, hours) ORDER BY i, k",
        "INSERT INTO outbox (id, organisation, instance, kind, recipient, payload, status, attempts, next_attempt_at, "
        "last_error, created_at, sent_at) "
        "SELECT i, 1 + (i - 1) % $2, i, 'invitation', 'user' || i || '@example.org', "
        f"'{_outbox_payload()}', 'sent', 1, {_PG_INVITED}, '', {_PG_INVITED}, {_PG_INVITED} + interval '5 seconds' "
        "FROM generate_series(1, $1::int) i",
        "INSERT INTO invitation_link (id, instance, token_hash, purpose, created_at, expires_at, ended_at) "
        f"SELECT i, i, lpad(i::text, 64, '0'), 'invitation', {_PG_INVITED}, {_PG_INVITED} + interval '720 hours', NULL "
        "FROM generate_series(1, $1::int) i",
    ]


async def seed_pg_rows(url: str, instances: int, due: int = 0, expire_share: float = 0.5, layout: str = "block") -> None:
    import asyncpg

    plan = due_plan(instances, due, expire_share, layout)
    args = (instances, organisations_for(instances), T0.timestamp())
    connection = await asyncpg.connect(url)
    try:
        tables = list(SEEDED_TABLES)
        foreign_keys = await connection.fetch(
            "SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid::regclass::text = ANY($1)",
            tables,
        )
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = ANY($1) AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))",
            tables,
        )
        await connection.execute("SET maintenance_work_mem = '256MB'")
        async with connection.transaction():
            for fk in foreign_keys:
                await connection.execute(f'ALTER TABLE "{fk["tbl"]}" DROP CONSTRAINT "{fk["conname"]}"')
            for index in indexes:
                await connection.execute(f'DROP INDEX "{index["indexname"]}"')
            for statement in _pg_statements():
                # Only numbers we computed: inline them (a statement need not use every one).
                statement = re.sub(r"\$(\d)", lambda m: repr(args[int(m.group(1)) - 1]), statement)
                statement = re.sub(r"(?<!:):([a-z]\w*)", lambda m: str(plan.get(m.group(1), m.group(0))), statement)
                await connection.execute(statement)
            for index in indexes:
                await connection.execute(index["indexdef"])
            for fk in foreign_keys:
                await connection.execute(f'ALTER TABLE "{fk["tbl"]}" ADD CONSTRAINT "{fk["conname"]}" {fk["def"]}')
            for table in tables:
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def seed_pg(
    admin_url: str, database: str, instances: int, due: int = 0, expire_share: float = 0.5, layout: str = "block"
) -> tuple[str, float]:
    """A fresh, migrated, seeded PostgreSQL database; returns its URL and the seconds it took."""
    start = time.perf_counter()
    url = await pg_recreate_database(admin_url, database)
    await create_schema(url)
    await seed_pg_rows(url, instances, due, expire_share, layout)
    return url, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=0, help="timers to make due at T0")
    parser.add_argument("--expire-share", type=float, default=0.5, help="share of the due timers that are `expire`")
    parser.add_argument("--layout", choices=LAYOUTS, default="block", help="where the due instances lie")
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="an existing database to connect to for CREATE DATABASE")
    parser.add_argument("--name", default=None, help="file / database name (default bench_seed_<size>)")
    args = parser.parse_args()
    name = args.name or f"bench_seed_{fmt_count(args.instances)}"
    if args.engine == "sqlite":
        path = sqlite_path(args.workdir, name)
        seconds = seed_sqlite(path, args.instances, args.due, args.expire_share, args.layout)
        print(f"seeded {path.name}: {args.instances:,} instances in {seconds:.1f} s")
    else:
        _, seconds = asyncio.run(seed_pg(args.pg_url, name, args.instances, args.due, args.expire_share, args.layout))
        print(f"seeded database {name}: {args.instances:,} instances in {seconds:.1f} s")


if __name__ == "__main__":
    main()
