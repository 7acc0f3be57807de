"""Full transition path through the engine, against the raw ceiling of the same statements.

Engine path = `FlowService.send(instance_id, "resend")` on a random seeded instance:
load the row (with the recipient's e-mail), restore the python-statemachine machine,
run the event, and write in one transaction: the version-checked state UPDATE, one
history row, the cancellation of the instance's pending timers, three new timers, one
outbox row and the end of the instance's invitation links (`resend` on an `invited`
instance touches every part and can be repeated forever).

Raw ceilings run the same seven statements (the SELECT and six writes) with nothing
around them; the script warns if the engine's statement list has drifted from them:
  * sqlite-raw: stdlib sqlite3, WAL, synchronous=NORMAL, the whole transaction (the
    SELECT included) in one hop to one dedicated thread; `sqlite-raw-sync` runs it on
    the calling thread, no hop (the ceiling of the ceiling).
  * pg-raw: asyncpg, a pool of N connections, N concurrent workers, one transaction each.

    python -m bench.transitions                       # everything, defaults below
    python -m bench.transitions --only sqlite --sqlite-instances 10000 --seconds 3
    python -m bench.transitions --only postgres --pg-instances 10000 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import timedelta

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
    verdict,
)
from bench.seed import seed_pg, seed_sqlite
from core import event_loop
from db import engine as _db_engine  # noqa: F401  (registers Piccolo's sqlite3 adapters, as the app does)

EVENT = "resend"
SQLITE_TARGETS = {10_000: 1_500.0, 1_000_000: 1_250.0}  # transitions/s; and p99 <= 2 ms
SQLITE_P99_TARGET_MS = 2.0
PG_SHARE_TARGET = 0.60  # of raw asyncpg at the same concurrency


@dataclass
class Result:
    name: str
    engine: str
    instances: int
    concurrency: int
    transitions: int
    seconds: float
    latencies: list[float] = field(repr=False, default_factory=list)
    cpu_seconds: float = 0.0  # this process, all threads (not the PostgreSQL server)
    server_cpu_seconds: float | None = None  # the PostgreSQL backends of the bench database

    @property
    def rate(self) -> float:
        return self.transitions / self.seconds if self.seconds else float("nan")


def _picker(instances: int, worker: int, workers: int, seed: int = 7):
    """Random instance ids; worker w only gets ids = w (mod workers), so concurrent
    workers never race on one row (a race would be a TransitionConflict, not a transition)."""
    rng = random.Random(seed * 1000 + worker)
    slots = (instances - worker - 1) // workers + 1  # ids w+1, w+1+workers, ...

    def pick() -> int:
        return worker + 1 + rng.randrange(slots) * workers

    return pick


async def _drive(name, engine, instances, workers, seconds, warmup, one, server_cpu=None) -> Result:
    """Run `one(instance_id)` in `workers` concurrent loops for `seconds` after `warmup` seconds;
    `server_cpu()` (if given) samples the database server's CPU before and after."""
    latencies: list[float] = []
    done = 0
    measuring = False
    stop_at = 0.0

    async def loop(worker: int) -> None:
        nonlocal done
        pick = _picker(instances, worker, workers)
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                return
            start = now
            await one(pick())
            if measuring:
                latencies.append(time.perf_counter() - start)
                done += 1

    stop_at = time.perf_counter() + warmup
    await asyncio.gather(*(loop(w) for w in range(workers)))
    measuring = True
    server_before = await server_cpu() if server_cpu else None
    begin, cpu = time.perf_counter(), time.process_time()
    stop_at = begin + seconds
    await asyncio.gather(*(loop(w) for w in range(workers)))
    elapsed, cpu = time.perf_counter() - begin, time.process_time() - cpu
    server = cpu_between(server_before, await server_cpu()) if server_cpu else None
    return Result(name, engine, instances, workers, done, elapsed, latencies, cpu, server)


# -- the engine -----------------------------------------------------------------


async def engine_run(url: str, engine: str, instances: int, workers: int, seconds: float, warmup: float) -> Result:
    """FlowService.send in `workers` concurrent loops (distinct instances per loop)."""
    async with flow_service(url, pool_size=max(workers, 1)) as service:
        before = await _count_history(service.db)

        async def one(instance_id: int) -> None:
            await service.send(instance_id, EVENT, actor="admin:1", client_ip="192.0.2.1")

        sampler = (lambda: pg_backend_cpu(url)) if engine == "postgres" else None
        result = await _drive(f"engine ({engine})", engine, instances, workers, seconds, warmup, one, sampler)
        after = await _count_history(service.db)
    if after - before < result.transitions:
        raise AssertionError(f"only {after - before} history rows for {result.transitions} transitions")
    return result


async def _count_history(db) -> int:
    from db.tables import TransitionHistory

    row = await db.fetch_one(TransitionHistory.count())
    return int(row["count"])


# -- raw statements ---------------------------------------------------------------

# The statements the engine sends for `resend` (see db/instances.py), written by hand.
_SELECT = (
    'SELECT fi.id, fi.organisation, fi.account, fi.flow_name, fi.flow_version, fi.state, fi.version, fi.context, '
    'fi.created_at, fi.updated_at, a.email AS recipient FROM flow_instance fi '
    "LEFT JOIN account a ON fi.account = a.id WHERE fi.id = {0}"
)
_UPDATE = (
    'UPDATE flow_instance SET state = {0}, context = {1}, version = version + 1, updated_at = {2} '
    "WHERE (id = {3} AND version = {4})"
)
_HISTORY = (
    "INSERT INTO transition_history (instance, organisation, event, from_state, to_state, actor, client_ip, "
    "details, created_at) VALUES ({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8})"
)
_CANCEL = (
    "UPDATE timer SET status = {0} WHERE status = {1} AND instance IN ({2}) AND event IN ({3}, {4}, {5}, {6})"
)
_TIMERS = (
    "INSERT INTO timer (instance, event, due_at, status, fired_at) VALUES "
    "({0}, {1}, {2}, {3}, NULL), ({4}, {5}, {6}, {7}, NULL), ({8}, {9}, {10}, {11}, NULL)"
)
_OUTBOX = (
    "INSERT INTO outbox (organisation, instance, kind, recipient, payload, status, attempts, next_attempt_at, "
    "last_error, created_at, sent_at) VALUES ({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, NULL)"
)
_END_LINKS = "UPDATE invitation_link SET ended_at = {0} WHERE instance IN ({1}) AND ended_at IS NULL"
_CANCELLED_EVENTS = ("expire", "remind_device", "remind_expiring", "remind_inactive")
_NEW_TIMERS = (("expire", timedelta(hours=720)), ("remind_inactive", timedelta(hours=72)), ("remind_expiring", timedelta(hours=672)))


RAW_WRITES = (_UPDATE, _HISTORY, _CANCEL, _TIMERS, _OUTBOX, _END_LINKS)
_SHAPE = re.compile(r'^\s*(UPDATE|INSERT INTO|DELETE FROM)\s+"?(\w+)"?', re.IGNORECASE)


def _shape(sql: str) -> str:
    match = _SHAPE.match(sql)
    return f"{match.group(1).upper()} {match.group(2)}" if match else sql.split()[0].upper()


def statement_check() -> str:
    """'' if the raw writes are the statements the engine sends for EVENT, else what differs.
    (The flow file and the store evolve; the raw ceiling must follow them.)"""
    from db import transitions
    from db.engine import Sql, bind_tables
    from db.engines import make_engine
    from db.instances import InstanceRecord
    from db.transitions import Change
    from workflows.registry import FlowRegistry

    # The statements' shapes are the same on both engines; building them needs an engine
    # bound to the tables (the benchmark's own database binds them again when it starts).
    bind_tables(make_engine("sqlite:///" + str(DEFAULT_WORKDIR / "statement_check.sqlite")))
    flow = FlowRegistry.from_directory().current("onboarding")
    record = InstanceRecord(1, 1, 1, flow.name, flow.version, "invited", 1, {}, "user1@example.org")
    outcome = flow.run("invited", EVENT, T0, context={})
    engine = []
    for step in transitions.change_steps([Change(record, outcome, "admin:1", "192.0.2.1")], T0):
        if not hasattr(step, "query"):  # a Deferred (the funnel's counters): not in the raw ceiling
            continue
        query = step.query
        sql = query.template if isinstance(query, Sql) else str(query.querystrings[0])
        if _SHAPE.match(sql):  # the funnel's read of the history is not in the raw ceiling either
            engine.append(_shape(sql))
    raw = [_shape(sql) for sql in RAW_WRITES]
    return "" if engine == raw else f"engine sends {engine}, raw runs {raw}"


def _placeholders(sql: str, style: str) -> str:
    count = sql.count("{")
    marks = ["?"] * count if style == "qmark" else [f"${i + 1}" for i in range(count)]
    return sql.format(*marks)


def _raw_args(row, now) -> list[tuple]:
    """Arguments of the six writes, from the loaded row, as the engine computes them."""
    iid, org, version, recipient = row[0], row[1], row[6], row[10]
    details = json.dumps({"flow_version": row[4], "mails": ["invitation"]})
    timers: list = []
    for event, after in _NEW_TIMERS:
        timers += [iid, event, now + after, "pending"]
    payload = json.dumps({"flow_version": row[4], "state": "invited"})
    return [
        ("invited", "{}", now, iid, version),
        (iid, org, EVENT, "invited", "invited", "admin:1", "192.0.2.1", details, now),
        ("cancelled", "pending", iid, *_CANCELLED_EVENTS),
        tuple(timers),
        (org, iid, "invitation", recipient, payload, "pending", 0, now, "", now),
        (now, iid),
    ]


class RawSqlite:
    """The whole transaction in one function, run on one dedicated thread. With
    `background_checkpoint`, WAL checkpoints run as in db.engine (off the write path)."""

    def __init__(self, path, background_checkpoint: bool = False):
        self.connection = sqlite3.connect(
            path, detect_types=sqlite3.PARSE_DECLTYPES, isolation_level=None, check_same_thread=False
        )
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "foreign_keys=1"):
            self.connection.execute(f"PRAGMA {pragma}")
        self.checkpointer = None
        if background_checkpoint:
            self.connection.execute(f"PRAGMA wal_autocheckpoint={_db_engine.SQLITE_WRITER_CHECKPOINT_PAGES}")
            self.checkpointer = _db_engine._Checkpointer(str(path))
            self.checkpointer.start()
        self.select = _placeholders(_SELECT, "qmark")
        self.writes = [_placeholders(s, "qmark") for s in RAW_WRITES]
        # The same kind of thread hop as db.engine's (a queue to one thread), so that the
        # ceiling differs from the engine only in what runs inside the hop.
        self.executor = _db_engine._SqliteThread()

    def transaction(self, instance_id: int) -> None:
        c = self.connection
        c.execute("BEGIN IMMEDIATE")
        try:
            row = c.execute(self.select, (instance_id,)).fetchone()
            args = _raw_args(row, T0)
            if c.execute(self.writes[0], args[0]).rowcount != 1:  # the version check, as the engine counts it
                raise RuntimeError("lost update")
            for sql, values in zip(self.writes[1:], args[1:]):
                c.execute(sql, values).fetchall()
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")
        if self.checkpointer is not None:
            self.checkpointer.wake.set()

    async def in_thread(self, instance_id: int) -> None:
        await self.executor.call(self.transaction, instance_id)

    def close(self) -> None:
        self.executor.shutdown()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.connection.close()


RAW_SQLITE_VARIANTS = {
    "hop": "raw sqlite3, 1 thread hop",
    "hop+bg": "raw sqlite3, 1 hop, background checkpoints",
    "sync": "raw sqlite3, no hop (sync)",
}


async def raw_sqlite_run(path, instances: int, seconds: float, warmup: float, variant: str) -> Result:
    raw = RawSqlite(path, background_checkpoint=variant == "hop+bg")
    try:
        if variant != "sync":
            return await _drive(RAW_SQLITE_VARIANTS[variant], "sqlite", instances, 1, seconds, warmup, raw.in_thread)

        async def sync(instance_id: int) -> None:
            raw.transaction(instance_id)

        return await _drive(RAW_SQLITE_VARIANTS[variant], "sqlite", instances, 1, seconds, warmup, sync)
    finally:
        raw.close()


async def raw_pg_run(url: str, instances: int, workers: int, seconds: float, warmup: float) -> Result:
    import asyncpg

    select = _placeholders(_SELECT, "numeric")
    writes = [_placeholders(s, "numeric") for s in RAW_WRITES]
    pool = await asyncpg.create_pool(url, min_size=workers, max_size=workers)
    try:

        async def one(instance_id: int) -> None:
            async with pool.acquire() as c, c.transaction():
                row = await c.fetchrow(select, instance_id)
                args = _raw_args(list(row.values()), T0)
                if (await c.execute(writes[0], *args[0])) != "UPDATE 1":  # the version check, as the engine counts it
                    raise RuntimeError("lost update")
                for sql, values in zip(writes[1:], args[1:]):
                    await c.fetch(sql, *values)

        return await _drive(f"raw asyncpg, {workers} connections", "postgres", instances, workers, seconds, warmup, one,
                            lambda: pg_backend_cpu(url))
    finally:
        await pool.close()


# -- main -------------------------------------------------------------------------


def _row(result: Result, target: str, met: str, extra: str = "") -> list[object]:
    lat = latency_summary(result.latencies)
    return [
        result.name,
        fmt_count(result.instances),
        result.concurrency,
        result.transitions,
        result.rate,
        lat["p50_ms"],
        lat["p99_ms"],
        result.cpu_seconds / result.transitions * 1e6 if result.transitions else float("nan"),
        "" if result.server_cpu_seconds is None else result.server_cpu_seconds / max(1, result.transitions) * 1e6,
        extra,
        target,
        met,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--sqlite-instances", default="10000,1000000", help="comma-separated sizes")
    parser.add_argument("--pg-instances", default="10000", help="comma-separated sizes")
    parser.add_argument("--concurrency", type=int, default=8, help="PostgreSQL workers = pool size")
    parser.add_argument("--sqlite-concurrency", default="1", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured time per row of the table (all rounds)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per row")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="event loop of the measured paths; `partnerportal serve` (uvicorn, loop=auto) runs on uvloop",
    )
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up per round")
    parser.add_argument("--reuse", action="store_true", help="reuse an already seeded SQLite file of that size")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()
    per_round, warmup = args.seconds / args.rounds, args.warmup
    global _event_loop_run
    if args.loop == "uvloop":
        import uvloop

        _event_loop_run = uvloop.run
    sqlite_concurrency = [int(x) for x in args.sqlite_concurrency.split(",") if x]

    extra = {}
    if args.only in ("postgres", "all"):
        extra["postgresql"] = event_loop.run(pg_server_version(args.pg_url))
    extra["loop"] = args.loop
    print_environment(extra)
    mismatch = statement_check()
    if mismatch:
        print(f"WARNING: the raw ceiling is not the engine's statement list: {mismatch}", flush=True)
    rows: list[list[object]] = []

    if args.only in ("sqlite", "all"):
        for instances in [int(x) for x in args.sqlite_instances.split(",") if x]:
            path = sqlite_path(args.workdir, f"bench_transitions_{fmt_count(instances)}")
            if not (args.reuse and _seeded(path, instances)):
                seconds = seed_sqlite(path, instances)
                print(f"seeded {fmt_count(instances)} instances in {seconds:.1f} s", flush=True)
            url = f"sqlite:///{path}"
            paths = {f"engine c={c}": (lambda c=c: engine_run(url, "sqlite", instances, c, per_round, warmup))
                     for c in sqlite_concurrency}
            paths.update({v: (lambda v=v: raw_sqlite_run(path, instances, per_round, warmup, v)) for v in RAW_SQLITE_VARIANTS})
            results = _rounds(paths, args.rounds)
            ceiling = results["hop"]
            target = SQLITE_TARGETS.get(instances)
            for c in sqlite_concurrency:
                eng = results[f"engine c={c}"]
                share = f"{eng.rate / ceiling.rate:.0%} of raw hop"
                if target and c == 1:
                    lat = latency_summary(eng.latencies)
                    ok = eng.rate >= target and lat["p99_ms"] <= SQLITE_P99_TARGET_MS
                    rows.append(_row(eng, f">= {target:,.0f}/s, p99 <= 2 ms", "met" if ok else "MISSED", share))
                else:
                    rows.append(_row(eng, "", "", share))
            rows.append(_row(ceiling, "ceiling (as specified)", ""))
            rows.append(_row(results["hop+bg"], "ceiling, engine's checkpointing", ""))
            rows.append(_row(results["sync"], "reference", ""))
            print_table("Transitions so far", HEADERS, rows)

    if args.only in ("postgres", "all"):
        for instances in [int(x) for x in args.pg_instances.split(",") if x]:
            database = f"bench_transitions_{fmt_count(instances).lower()}"
            url, seconds = event_loop.run(seed_pg(args.pg_url, database, instances))
            print(f"seeded {fmt_count(instances)} instances in {seconds:.1f} s", flush=True)
            c = args.concurrency
            results = _rounds(
                {
                    "raw": lambda: raw_pg_run(url, instances, c, per_round, warmup),
                    "engine": lambda: engine_run(url, "postgres", instances, c, per_round, warmup),
                },
                args.rounds,
            )
            eng, raw = results["engine"], results["raw"]
            share = eng.rate / raw.rate
            rows.append(_row(eng, f">= {PG_SHARE_TARGET:.0%} of raw", verdict(share, PG_SHARE_TARGET, True),
                             f"{share:.0%} of raw"))
            rows.append(_row(raw, "ceiling", ""))
            if not args.keep:
                event_loop.run(pg_drop_database(args.pg_url, database))
            print_table("Transitions so far", HEADERS, rows)

    print_environment(extra)  # the load average at the end, too
    print_table(f"Transitions ({EVENT!r}: load, machine, state + history + timers + outbox + links)", HEADERS, rows)


_event_loop_run = asyncio.run


def _rounds(paths: dict, rounds: int) -> dict[str, Result]:
    """Run every path `rounds` times, interleaved, so that load from elsewhere on the
    machine hits all of them alike; merge each path's rounds into one Result."""
    merged: dict[str, Result] = {}
    for _ in range(rounds):
        for key, make in paths.items():
            result = _event_loop_run(make())
            if key not in merged:
                merged[key] = result
            else:
                total = merged[key]
                total.transitions += result.transitions
                total.seconds += result.seconds
                total.latencies += result.latencies
                total.cpu_seconds += result.cpu_seconds
                if result.server_cpu_seconds is not None:
                    total.server_cpu_seconds = (total.server_cpu_seconds or 0.0) + result.server_cpu_seconds
    return merged


# "CPU us/tr.": this process (all threads; with SQLite that includes the database);
# "server CPU us/tr.": the PostgreSQL backends serving the bench database.
HEADERS = ["path", "instances", "conc.", "transitions", "per s", "p50 ms", "p99 ms", "CPU us/tr.", "server CPU us/tr.",
           "share", "target", "verdict"]


def _seeded(path, instances: int) -> bool:
    if not path.exists():
        return False
    try:
        connection = sqlite3.connect(path)
        try:
            return connection.execute("SELECT max(id) FROM flow_instance").fetchone()[0] == instances
        finally:
            connection.close()
    except sqlite3.Error:
        return False


if __name__ == "__main__":
    main()
