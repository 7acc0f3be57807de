"""A draft's simulation (Vorschau) at size: 30 days of invitations replayed under a draft
with a shorter expiry, by the job the scheduler runs (jobs/simulations.py), with its
progress written every 5 000 invitations.

Seeds with bench.seed (N invited instances, one `invite` history row each), spreads the
invitations over the 30 days before T0 (instance and history alike), then adds the later
history rows of bench.funnel (profile, device, consent, reminder, expiry, revocation by
i % 10) and drops those after T0 (they have not happened yet). Then one simulation of
the last 30 days is started as the page starts it and run to the end; the wall time is
from the claim to the finished row.

Reported: wall time, the process's CPU and (PostgreSQL) the server backend's CPU.

    python -m bench.simulation --engine sqlite --instances 100000
    python -m bench.simulation --engine postgres --instances 100000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta

from bench.common import (
    DEFAULT_PG_URL, DEFAULT_WORKDIR, T0, cpu_between, fmt_count, pg_backend_cpu, pg_drop_database, print_environment, print_table,
    remove_sqlite, sqlite_path,
)
from bench.funnel import _spread_and_history
from bench.seed import seed_pg, seed_sqlite

DAYS = 30


def _statements(engine: str) -> list[tuple[str, tuple]]:
    if engine == "sqlite":
        def shift(table: str, column: str) -> str:
            return (f"UPDATE {table} SET created_at = strftime('%Y-%m-%d %H:%M:%S', substr(created_at, 1, 19), "
                    f"'-' || ({column} % {DAYS}) || ' days') || '+00:00'")
        drop = ("DELETE FROM transition_history WHERE created_at > ?", (T0.strftime("%Y-%m-%d %H:%M:%S+00:00"),))
    else:
        def shift(table: str, column: str) -> str:
            return f"UPDATE {table} SET created_at = created_at - make_interval(days => {column} % {DAYS})"
        drop = ("DELETE FROM transition_history WHERE created_at > {}", (T0,))
    later_rows = _spread_and_history(engine)[1:]  # without the funnel's spread over a year
    # The seed leaves every instance `invited`; its state is where its history ends.
    state = ('UPDATE flow_instance SET state = (SELECT h.to_state FROM transition_history h '
             'WHERE h.instance = flow_instance.id ORDER BY h.id DESC LIMIT 1)')
    return [(shift("flow_instance", "id"), ()), (shift("transition_history", "instance"), ()), *later_rows, drop,
            (state, ())]


async def _prepare(url: str, engine: str) -> None:
    from db.engine import Database, Sql
    from db.tables import TransitionHistory

    db = Database(url)
    await db.start(pool_size=1)
    try:
        for statement, arguments in _statements(engine):
            if engine == "sqlite" and "?" in statement:
                statement = statement.replace("?", "{}")
            await db.write([Sql(TransitionHistory, statement, *arguments)])
        if engine == "postgres":
            import asyncpg

            connection = await asyncpg.connect(url)
            await connection.execute("VACUUM ANALYZE")
            await connection.close()
    finally:
        await db.close()


async def _measure(url: str, engine: str) -> list[list[object]]:
    from core.clock import FrozenClock
    from db import flow_simulations
    from db.engine import Database
    from db.tables import FlowSimulation
    from jobs.simulations import run_simulations
    from db import flow_versions
    from workflows.registry import SHIPPED_FLOWS_DIR

    clock = FrozenClock(T0 + timedelta(seconds=1))
    now = clock.now()
    db = Database(url)
    await db.start(pool_size=2)
    try:
        since = now - timedelta(days=DAYS)
        total = await flow_versions.count_started(db, "onboarding", since, now)
        shipped = (SHIPPED_FLOWS_DIR / "onboarding.yaml").read_text(encoding="utf-8")
        text = shipped.replace("\nversion: 2\n", "\nversion: 99\n", 1).replace(
            "    purpose: expiry\n    after: 720h\n", "    purpose: expiry\n    after: 336h\n", 1)
        assert "after: 336h" in text  # the draft differs from the published version
        await db.write([flow_simulations.create_step(1, "onboarding", text, DAYS, since, now, total, "bench", now)])
        server_before = await pg_backend_cpu(url) if engine == "postgres" else {}
        cpu, wall = time.process_time(), time.perf_counter()
        assert await run_simulations(db, clock) == 1
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        server = ""
        if engine == "postgres":
            after = await pg_backend_cpu(url)
            server = f"{cpu_between(server_before, after):.1f} s"
        row = (await db.fetch(FlowSimulation.select().order_by(FlowSimulation.id, ascending=False).limit(1)))[0]
        summary = await flow_simulations.get(db, row["id"])
        different = sum(n for _, _, n in summary["summary"]["different"])
    finally:
        await db.close()
    return [[f"{fmt_count(row['replayed'])} of {fmt_count(total)}", f"{fmt_count(different)} would differ",
             f"{wall:.1f} s", f"{cpu:.1f} s", server]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()
    name = f"bench_simulation_{args.instances}"
    start = time.perf_counter()
    if args.engine == "sqlite":
        path = sqlite_path(args.workdir, name)
        seed_sqlite(path, args.instances)
        url = f"sqlite:///{path}"
    else:
        url, _ = asyncio.run(seed_pg(args.pg_url, name, args.instances))
    asyncio.run(_prepare(url, args.engine))
    print(f"seeded and shaped {fmt_count(args.instances)} instances in {time.perf_counter() - start:.0f} s")
    print_environment({"engine": args.engine})
    try:
        rows = asyncio.run(_measure(url, args.engine))
    finally:
        if args.engine == "sqlite":
            remove_sqlite(sqlite_path(args.workdir, name))
        else:
            asyncio.run(pg_drop_database(args.pg_url, name))
    print_table(f"simulation of {DAYS} days ({args.engine})", ["invitations replayed", "outcome", "wall", "process CPU",
                                                                "server CPU"], rows)


if __name__ == "__main__":
    main()
