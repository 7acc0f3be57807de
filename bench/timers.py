"""Timer sweep: fire D due timers among P pending ones, through jobs.timers.fire_due_timers.

The seeded database (bench/seed.py) holds P pending timers, three per `invited` instance;
D of them are due at T0 on distinct instances, half `remind_inactive` (internal transition:
history row + reminder mail) and half `expire` (-> expired: history row + mail, the
instance's two other timers cancelled, its invitation links ended); --expire-share changes
the mix. --layout block (default) puts the due instances in two runs of consecutive ids,
as in production (ids follow creation time, a timer falls due a fixed time after the
invitation); --layout spread scatters them over the whole table (worst-case locality).
The sweep claims, runs and writes them in set-based batches of --batch.

Afterwards the database is checked: D timers fired, D new history rows, D new outbox rows.
Then the empty poll is timed: `db.fetch(jobs.timers.due_timers_query(now, batch))` when
nothing is due (the query every scheduler tick runs), and a whole `fire_due_timers` call
that finds nothing.

"CPU s" is this process (all threads; with SQLite that includes the database), "server CPU s"
the PostgreSQL backends serving the bench database, "CPU us/timer (all)" both per fired timer.
A second table splits the process's CPU by thread (on SQLite: the database thread "sqlite",
the event loop's "MainThread", the WAL checkpointer).

    python -m bench.timers                                 # 10 000 due of 1 000 000 pending
    python -m bench.timers --pending 100000 --due 1000     # quick
    python -m bench.timers --by-statement                  # and where the time goes
    python -m bench.timers --only postgres --explain       # and inside PostgreSQL's joined writes
"""

from __future__ import annotations

import argparse
import contextlib
import time

from bench.common import (
    DEFAULT_PG_URL,
    DEFAULT_WORKDIR,
    T0,
    cpu_between,
    flow_service,
    fmt_count,
    latency_summary,
    pg_backend_cpu,
    pg_drop_database,
    pg_server_version,
    print_environment,
    print_table,
    sqlite_path,
    thread_cpu,
    thread_cpu_between,
    verdict,
)
from bench.statements import PlanProfile, StatementProfile, explained, profiled
from bench.seed import LAYOUTS, TIMERS_PER_INSTANCE, seed_pg, seed_sqlite
from core import event_loop

TARGET_S = {"sqlite": 1.0, "postgres": 0.4}
POLL_TARGET_MS = 1.0


async def _counts(db) -> dict[str, int]:
    from db.tables import Outbox, Timer, TransitionHistory

    return {
        "history": (await db.fetch_one(TransitionHistory.count()))["count"],
        "outbox": (await db.fetch_one(Outbox.count()))["count"],
        "pending": (await db.fetch_one(Timer.count().where(Timer.status == "pending")))["count"],
        "fired": (await db.fetch_one(Timer.count().where(Timer.status == "fired")))["count"],
        "cancelled": (await db.fetch_one(Timer.count().where(Timer.status == "cancelled")))["count"],
    }


async def run_sweep(
    url: str, engine: str, due: int, batch: int, polls: int, by_statement: bool = False, explain: bool = False
) -> dict:
    from jobs.timers import due_timers_query, fire_due_timers

    async with flow_service(url, pool_size=2) as service:
        db = service.db
        before = await _counts(db)
        server_before = await pg_backend_cpu(url) if engine == "postgres" else None
        profile, plans = StatementProfile(), PlanProfile()
        threads_before = thread_cpu()
        with contextlib.ExitStack() as stack:
            if by_statement:
                stack.enter_context(profiled(db, profile))
            if explain and engine == "postgres":
                stack.enter_context(explained(plans))
            start, cpu = time.perf_counter(), time.process_time()
            result = await fire_due_timers(service, batch)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        threads = thread_cpu_between(threads_before, thread_cpu())
        server_cpu = cpu_between(server_before, await pg_backend_cpu(url)) if server_before is not None else None
        after = await _counts(db)

        problems = []
        if result.fired != due or result.cancelled or result.conflicts:
            problems.append(f"sweep returned {result}, expected {due} fired")
        for key in ("history", "outbox", "fired"):
            if after[key] - before[key] != due:
                problems.append(f"{after[key] - before[key]} new {key} rows, expected {due}")
        if problems:
            raise AssertionError("; ".join(problems))

        now = service.clock.now()
        poll_latencies = []
        for _ in range(polls):
            t = time.perf_counter()
            rows = await db.fetch(due_timers_query(now, batch))
            poll_latencies.append(time.perf_counter() - t)
            if rows:
                raise AssertionError(f"{len(rows)} timers still due after the sweep")
        sweep_latencies = []
        for _ in range(max(1, polls // 4)):
            t = time.perf_counter()
            await fire_due_timers(service, batch)
            sweep_latencies.append(time.perf_counter() - t)
    return {
        "engine": engine,
        "pending": before["pending"],
        "seconds": seconds,
        "cpu": cpu,
        "server_cpu": server_cpu,
        "fired": result.fired,
        # Timers the fired events cancelled (expire: the instance's others) and started
        # (expired: the purge timer).
        "cancelled": after["cancelled"] - before["cancelled"],
        "started": after["pending"] - (before["pending"] - result.fired - (after["cancelled"] - before["cancelled"])),
        "poll": latency_summary(poll_latencies),
        "empty_sweep": latency_summary(sweep_latencies),
        "statements": profile if by_statement else None,
        "plans": plans if explain and engine == "postgres" else None,
        "threads": threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--pending", type=int, default=1_000_000, help="pending timers before the sweep")
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000, help="batch_size of fire_due_timers")
    parser.add_argument("--layout", default="block", help="comma-separated: " + ", ".join(LAYOUTS))
    parser.add_argument("--expire-share", type=float, default=0.5, help="share of due timers that are `expire`")
    parser.add_argument("--polls", type=int, default=2_000, help="empty polls to time")
    parser.add_argument("--by-statement", action="store_true",
                        help="also time the sweep's statements by kind (adds ~5-10 us of timing per statement)")
    parser.add_argument("--explain", action="store_true",
                        help="PostgreSQL: EXPLAIN ANALYZE the joined write statements, summed per table and trigger "
                             "(runs each twice, so the sweep's own timings do not count)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()

    instances = -(-args.pending // TIMERS_PER_INSTANCE)
    engines = ["sqlite", "postgres"] if args.only == "all" else [args.only]
    extra = {}
    if "postgres" in engines:
        extra["postgresql"] = event_loop.run(pg_server_version(args.pg_url))
    print_environment(extra)

    results = []
    for layout in args.layout.split(","):
        for engine in engines:
            name = f"bench_timers_{fmt_count(args.pending).lower()}"
            if engine == "sqlite":
                path = sqlite_path(args.workdir, name)
                seconds = seed_sqlite(path, instances, args.due, args.expire_share, layout)
                url = f"sqlite:///{path}"
            else:
                url, seconds = event_loop.run(seed_pg(args.pg_url, name, instances, args.due, args.expire_share, layout))
            print(f"{engine}: seeded {instances:,} instances / {instances * TIMERS_PER_INSTANCE:,} timers "
                  f"in {seconds:.1f} s ({layout})", flush=True)
            result = event_loop.run(run_sweep(url, engine, args.due, args.batch, args.polls, args.by_statement, args.explain))
            results.append({**result, "layout": layout})
            if engine == "postgres" and not args.keep:
                event_loop.run(pg_drop_database(args.pg_url, name))

    # The targets are for 10 000 due among 1 000 000 pending; smaller runs get no verdict.
    full_size = args.due >= 10_000 and args.pending >= 1_000_000
    print_environment(extra)  # the load average at the end, too
    print_table(
        f"Firing {args.due:,} due timers (batches of {args.batch:,}), with history + outbox rows",
        ["engine", "due layout", "pending", "fired", "cancelled", "started", "seconds", "CPU s", "server CPU s",
         "CPU us/timer (all)", "timers/s", "target",
         "verdict"],
        [
            [
                r["engine"],
                r["layout"],
                r["pending"],
                r["fired"],
                r["cancelled"],
                r["started"],
                r["seconds"],
                r["cpu"],
                "" if r["server_cpu"] is None else r["server_cpu"],
                ((r["server_cpu"] or 0.0) + r["cpu"]) / r["fired"] * 1e6,
                r["fired"] / r["seconds"],
                f"<= {TARGET_S[r['engine']]} s" if full_size else "(full size only)",
                verdict(r["seconds"], TARGET_S[r["engine"]], False) if full_size else "",
            ]
            for r in results
        ],
    )
    for r in results:
        if r["statements"] is None:
            continue
        rows = r["statements"].rows(r["fired"])
        statement_cpu = r["statements"].cpu
        # SQLite: the statements' CPU is the sqlite thread's, the rest of the process CPU is Python.
        outside = r["cpu"] - (sum(statement_cpu.values()) if r["engine"] == "sqlite" else 0.0)
        rows.append(["process CPU outside the statements (Python: planning, building, driver)", "", "",
                     outside * 1e3, outside / r["fired"] * 1e6])
        cpu_label = "CPU ms (sqlite thread)" if r["engine"] == "sqlite" else "server CPU ms (backend)"
        print_table(
            f'Statements of the sweep, {r["engine"]} ({r["layout"]}), {r["fired"]:,} timers',
            ["statement", "count", "wall ms", cpu_label, "CPU us/timer"],
            rows,
        )
    print_table(
        "CPU of this process's threads during the sweep (s)",
        ["engine", "due layout", "thread", "CPU s"],
        [[r["engine"], r["layout"], name, spent] for r in results
         for name, spent in sorted(r["threads"].items(), key=lambda item: -item[1]) if spent > 0],
    )
    for r in results:
        if r["plans"] is not None:
            print_table(
                f'Inside the joined write statements, {r["engine"]} ({r["layout"]}), {r["fired"]:,} timers (EXPLAIN ANALYZE)',
                ["write or trigger", "trigger calls", "ms", "us/timer"],
                r["plans"].rows(r["fired"]),
            )
    print_table(
        "Empty poll (nothing due)",
        ["engine", "what", "p50 ms", "p99 ms", "max ms", "target (p50)", "verdict"],
        [
            row
            for r in results
            for row in (
                [f'{r["engine"]} ({r["layout"]})', f"db.fetch(due_timers_query(now, {args.batch}))", r["poll"]["p50_ms"], r["poll"]["p99_ms"],
                 r["poll"]["max_ms"], f"<= {POLL_TARGET_MS} ms", verdict(r["poll"]["p50_ms"], POLL_TARGET_MS, False)],
                [f'{r["engine"]} ({r["layout"]})', "fire_due_timers() finding nothing", r["empty_sweep"]["p50_ms"],
                 r["empty_sweep"]["p99_ms"], r["empty_sweep"]["max_ms"], "", ""],
            )
        ],
    )


if __name__ == "__main__":
    main()
