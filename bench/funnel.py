"""The funnel (Trichter) at size: how long the page's numbers take to read.

Seeds with bench.seed (N invited instances, one history row each, 1 000 organisations),
then gives the history a year's shape in SQL: invitation days spread over 365 days, and
per instance i by i % 10 the later rows the engine would have written (profile, device,
consent and its automatic follower, a reminder before a late profile, expiry, revocation),
with durations that vary by instance. The counters are then built from that history with
`db.funnel.rebuild` (timed too: it is what `db upgrade` does once), and the funnel is read
as the page reads it (`db.funnel.counts` + `workflows.funnel.build_report`) for: all
organisations over the whole year, all over 30 days, one organisation over the year.

Reported per query: median wall time of --repeat runs, and the CPU the database used for
it (PostgreSQL: the server backend's utime+stime from /proc; SQLite runs in the process,
so its CPU is the process's).

    python -m bench.funnel --engine sqlite --instances 1000000
    python -m bench.funnel --engine postgres --instances 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta
from pathlib import Path

from bench.common import (
    DEFAULT_PG_URL, DEFAULT_WORKDIR, T0, fmt_count, median, pg_drop_database, pg_url_for, print_environment, print_table,
    remove_sqlite, sqlite_path,
)
from bench.seed import flow_version, seed_pg, seed_sqlite

# (share selector on i % 10, event, from, to, seconds after the invitation, actor, mails)
_ROWS = [
    ("i % 10 IN (6, 9)", "remind_inactive", "invited", "invited", "259200", "system:timer", True),
    ("i % 10 < 6", "complete_profile", "invited", "in_progress", "7200 + (i * 7919) % 100000", "account", False),
    ("i % 10 = 6", "complete_profile", "invited", "in_progress", "288000 + (i * 31) % 3600", "account", False),
    ("i % 10 < 4 OR i % 10 = 6", "activate_device", "in_progress", "registered", "200000 + (i * 104729) % 50000", "account", False),
    ("i % 10 < 3", "consent", "registered", "consented", "300000 + (i * 13) % 90000", "account", False),
    ("i % 10 < 3", "done", "consented", "active", "300000 + (i * 13) % 90000", "account", False),
    ("i % 10 = 7", "expire", "invited", "expired", "2592000", "system:timer", True),
    ("i % 10 = 8", "revoke", "invited", "revoked", "(i * 7) % 200000", "admin", False),
]


def _spread_and_history(engine: str) -> list[tuple[str, tuple]]:
    """Statements over the seeded rows (instance id = i, one `invite` row each)."""
    version = flow_version()
    if engine == "sqlite":
        shift = (
            "UPDATE transition_history SET created_at = strftime('%Y-%m-%d %H:%M:%S', substr(created_at, 1, 19), "
            "'-' || (instance % 365) || ' days') || '+00:00'"
        )
        at = "strftime('%Y-%m-%d %H:%M:%S', strftime('%s', substr(h.created_at, 1, 19)) + ({s}), 'unixepoch') || '+00:00'"
    else:
        shift = "UPDATE transition_history SET created_at = created_at - make_interval(days => instance % 365)"
        at = "h.created_at + make_interval(secs => ({s}))"
    instance = "h.instance" if engine == "sqlite" else "h.instance::bigint"  # i * 104729 overflows int4
    statements: list[tuple[str, tuple]] = [(shift, ())]
    for where, event, source, target, seconds, actor, mails in _ROWS:
        details = '{"flow_version": %d%s}' % (version, ', "mails": ["reminder"]' if mails else "")
        # The JSON travels as a parameter: its braces would read as placeholders.
        statements.append((
            "INSERT INTO transition_history (instance, organisation, event, from_state, to_state, actor, client_ip, "
            f"details, created_at) SELECT h.instance, h.organisation, '{event}', '{source}', '{target}', '{actor}', '', "
            f"{{}}, {at.format(s=seconds.replace('i', instance))} FROM transition_history h "
            f"WHERE h.event = 'invite' AND {where.replace('i', 'h.instance')} ORDER BY h.instance",
            (details,),
        ))
    return statements


async def _prepare(url: str, engine: str) -> None:
    from db.engine import Database
    from db.tables import TransitionHistory

    db = Database(url)
    await db.start(pool_size=1)
    try:
        for statement, arguments in _spread_and_history(engine):
            await db.write([TransitionHistory.raw(statement, *arguments)])
        if engine == "postgres":
            import asyncpg

            connection = await asyncpg.connect(url)
            await connection.execute("VACUUM ANALYZE transition_history")
            await connection.close()
    finally:
        await db.close()


def _cpu_of(pid: int | None) -> float:
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, clock ticks of 10 ms


async def _measure(url: str, engine: str, repeat: int, rebuild: bool = True) -> list[list[object]]:
    from db import funnel as counters
    from db.engine import Database
    from db.tables import FunnelCount
    from workflows import funnel
    from workflows.registry import FlowRegistry

    registry = FlowRegistry.from_directory()
    flow = registry.current("onboarding")
    db = Database(url)
    await db.start(pool_size=1)  # one connection: its backend is the server process measured
    rows: list[list[object]] = []
    try:
        pid = None
        if engine == "postgres":
            pid = (await db.fetch_one(FunnelCount.raw("SELECT pg_backend_pid() AS pid")))["pid"]
        if rebuild:
            cpu, wall = _cpu_of(pid), time.perf_counter()
            counted = await counters.rebuild(db)
            rows.append(["rebuild (db upgrade, once)", fmt_count(counted), f"{time.perf_counter() - wall:.1f} s",
                         f"{_cpu_of(pid) - cpu:.1f} s"])
        if engine == "postgres":
            await db.write([FunnelCount.raw("ANALYZE funnel_count")])
        total = (await db.fetch_one(FunnelCount.raw("SELECT count(*) AS n FROM funnel_count")))["n"]
        rows.append(["counter rows", fmt_count(total), "", ""])
        end = (T0 + timedelta(days=2)).date()
        cases = [
            ("all organisations, 365 days", None, None),
            ("all organisations, 30 days", None, end - timedelta(days=30)),
            ("organisation 7, 365 days", 7, None),
        ]
        for name, organisation, since in cases:
            walls, cpus = [], []
            for _ in range(repeat):
                cpu, wall = _cpu_of(pid), time.perf_counter()
                found = await counters.counts(db, flow.name, flow.version, organisation, since, None)
                report = funnel.build_report(flow.definition, found, since, None, organisation)
                walls.append(time.perf_counter() - wall)
                cpus.append(_cpu_of(pid) - cpu)
            rows.append([name, fmt_count(report.invitations) + " invitations", f"{median(walls) * 1000:.0f} ms",
                         f"{median(cpus) * 1000:.0f} ms"])
    finally:
        await db.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (needed for a later --reuse)")
    parser.add_argument("--reuse", action="store_true", help="read the database of an earlier run again (no seeding, no rebuild)")
    args = parser.parse_args()
    name = f"bench_funnel_{args.instances}"
    start = time.perf_counter()
    if args.reuse:
        url = f"sqlite:///{sqlite_path(args.workdir, name)}" if args.engine == "sqlite" else pg_url_for(args.pg_url, name)
    elif args.engine == "sqlite":
        path = sqlite_path(args.workdir, name)
        seed_sqlite(path, args.instances)
        url = f"sqlite:///{path}"
    else:
        url, _ = asyncio.run(seed_pg(args.pg_url, name, args.instances))
    if not args.reuse:
        asyncio.run(_prepare(url, args.engine))
        print(f"seeded and shaped {fmt_count(args.instances)} instances in {time.perf_counter() - start:.0f} s")
    print_environment({"engine": args.engine})
    rows = asyncio.run(_measure(url, args.engine, args.repeat, rebuild=not args.reuse))
    if not args.keep:
        if args.engine == "sqlite":
            remove_sqlite(sqlite_path(args.workdir, name))
        else:
            asyncio.run(pg_drop_database(args.pg_url, name))
    db_cpu = "server CPU" if args.engine == "postgres" else "process CPU"
    print_table(f"funnel, {fmt_count(args.instances)} instances ({args.engine})", ["what", "size", "wall (median)", db_cpu], rows)


if __name__ == "__main__":
    main()
