"""Live updates of the Nutzerverwaltung: S open SSE streams, changes made by another process.

Three processes: the server (one uvicorn worker, bench/admin_server.py) on a database with
one organisation of N invitations (bench/admin_seed.py); a client process holding S
streams on `/nutzerverwaltung/live` with the admin's cookie (raw sockets, HTTP/1.0 so the
bytes are plain SSE); and this process, which changes state through a FlowService on its
own Database handle, as a worker or a second app process would.

1. Idle: all streams open, nothing changes: the server's CPU share of one core over
   --idle-seconds, read from /proc/<pid>/stat (target <= 1 %, issue 12).
2. Changes: C admin revocations of `invited` people, one at a time, --gap seconds apart
   (random, so they fall on every phase of the feed's poll). Latency = the moment a stream
   has the event for that person minus the moment `FlowService.send` returned (its
   transaction committed just before), both on this machine's wall clock (target for
   every stream and change: <= 50 ms on PostgreSQL, woken by NOTIFY; <= 200 ms on SQLite,
   which polls).

The database is `bench_live_<size>` (its own, so the table benchmarks' data stays).

    python -m bench.live_updates                                   # both engines, 100 streams
    python -m bench.live_updates --engine sqlite --instances 10000 --changes 5 --idle-seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.admin_seed import ORGANISATION_ID, admin_session, seed
from bench.admin_server import CpuMeter, rss_mib, serve
from bench.admin_table import PRODUCTION_SESSION_COOKIE
from bench.common import (
    DEFAULT_PG_URL,
    DEFAULT_WORKDIR,
    ROOT,
    fmt_count,
    percentile,
    pg_server_version,
    print_environment,
    print_table,
    verdict,
)

TARGET_LATENCY_MS = {"postgres": 50.0, "sqlite": 200.0}
TARGET_IDLE_CPU_PCT = 1.0
DATABASE_NAME = "bench_live_{size}"
ROW_EVENT = re.compile(rb'event: ?row.*?id="person-(\d+)"', re.DOTALL)
EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


# -- the client process -------------------------------------------------------------


async def _stream(index: int, port: int, cookie: str, events: list, opened: asyncio.Queue) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /nutzerverwaltung/live HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
        f"Cookie: {PRODUCTION_SESSION_COOKIE}={cookie}\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    await opened.put((index, status.decode(errors="replace")))
    if b" 200 " not in status:
        return
    buffer = b""
    while chunk := await reader.read(65536):
        now = time.time()
        buffer += chunk
        while (end := EVENT_END.search(buffer)) is not None:
            event, buffer = buffer[: end.end()], buffer[end.end():]
            if match := ROW_EVENT.search(event):
                events.append((index, int(match.group(1)), now))


async def _load_table(port: int, cookie: str) -> None:
    """The table page, as the browser loads it before it opens the stream (the server then
    has the page's template compiled, as it would in use)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /nutzerverwaltung/ HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n"
        f"Cookie: {PRODUCTION_SESSION_COOKIE}={cookie}\r\n\r\n".encode()
    )
    await writer.drain()
    await reader.read()
    writer.close()


async def client(port: int, cookie: str, streams: int) -> None:
    """Open the streams, say `ready`, collect events until `stop` arrives on stdin, print them as JSON."""
    await _load_table(port, cookie)
    events: list[tuple[int, int, float]] = []
    opened: asyncio.Queue = asyncio.Queue()
    tasks = [asyncio.create_task(_stream(i, port, cookie, events, opened)) for i in range(streams)]
    statuses = [await asyncio.wait_for(opened.get(), 60) for _ in range(streams)]
    failed = [s for _, s in statuses if " 200 " not in s + " "]
    print(json.dumps({"ready": streams - len(failed), "failed": failed[:3]}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({"events": events}), flush=True)


def existing(engine: str, name: str, workdir: str, pg_url: str) -> str | None:
    """The URL of an already seeded database of that name, if there is one."""
    from bench.common import pg_url_for, sqlite_path

    if engine == "sqlite":
        path = sqlite_path(workdir, name)
        return f"sqlite:///{path}" if path.exists() else None

    async def exists() -> bool:
        import asyncpg

        connection = await asyncpg.connect(pg_url)
        try:
            return bool(await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await connection.close()

    return pg_url_for(pg_url, name) if asyncio.run(exists()) else None


# -- this process: the changes -----------------------------------------------------------


async def invited_people(url: str, count: int) -> list[int]:
    from db.engine import Database, Sql
    from db.tables import FlowInstance

    db = Database(url)
    await db.start(pool_size=1)
    try:
        rows = await db.fetch(Sql(
            FlowInstance,
            "SELECT id FROM flow_instance WHERE organisation = {} AND state = 'invited' ORDER BY id DESC LIMIT {}",
            ORGANISATION_ID, count,
        ))
        return [r["id"] for r in rows]
    finally:
        await db.close()


async def make_changes(url: str, instance_ids: list[int], gap: float) -> list[tuple[int, float, float]]:
    """Revoke each person through a FlowService of this process; (instance, sent, committed) times."""
    from bench.common import flow_service
    from core.clock import SystemClock

    done = []
    async with flow_service(url, pool_size=2, clock=SystemClock()) as service:
        for instance_id in instance_ids:
            await asyncio.sleep(random.uniform(gap / 2, gap * 1.5))
            sent = time.time()
            await service.send(instance_id, "revoke", actor="account:1", organisation_id=ORGANISATION_ID)
            done.append((instance_id, sent, time.time()))
    return done


def first_stream(changes: list[tuple[int, float, float]], events: list) -> list[float]:
    """Per change: commit to the first stream that had it (the wake-up alone, before the
    other streams' turns at rendering)."""
    first: dict[int, float] = {}
    for _, instance_id, at in events:
        first[instance_id] = min(at, first.get(instance_id, at))
    return [max(0.0, first[i] - committed) * 1000 for i, _, committed in changes if i in first]


def latencies(changes: list[tuple[int, float, float]], events: list, streams: int) -> tuple[list[float], int]:
    """Per stream and change: first event for that person after the commit; and how many never came."""
    first: dict[tuple[int, int], float] = {}
    for stream, instance_id, at in events:
        key = (stream, instance_id)
        if key not in first or at < first[key]:
            first[key] = at
    values, missing = [], 0
    for instance_id, _, committed in changes:
        for stream in range(streams):
            at = first.get((stream, instance_id))
            if at is None:
                missing += 1
            else:
                values.append(max(0.0, at - committed))
    return values, missing


def spread(changes: list[tuple[int, float, float]], events: list) -> list[tuple[float, float]]:
    """Per change, in order: commit to the first and to the last stream that had it (ms)."""
    times: dict[int, list[float]] = {}
    for _, instance_id, at in events:
        times.setdefault(instance_id, []).append(at)
    return [((min(times[i]) - committed) * 1000, (max(times[i]) - committed) * 1000)
            for i, _, committed in changes if i in times]


def run_engine(engine: str, url: str, streams: int, changes: int, idle_seconds: float, gap: float,
               app_dir: Path, per_change: bool = False) -> list[object]:
    token = asyncio.run(admin_session(url))
    people = asyncio.run(invited_people(url, changes))
    if len(people) < changes:
        raise SystemExit(f"only {len(people)} invited people left: seed again (without --reuse)")
    # Production wants a mail server; the server's scheduler is off, so none is contacted.
    with serve(url, app_dir=app_dir, PARTNERPORTAL_SMTP_HOST="127.0.0.1") as server:
        command = [sys.executable, "-m", "bench.live_updates", "--client-port", str(server.port),
                   "--client-cookie", token, "--streams", str(streams)]
        client_process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            ready = json.loads(client_process.stdout.readline())
            if ready["ready"] != streams:
                raise RuntimeError(f"only {ready['ready']} of {streams} streams opened: {ready['failed']}")
            time.sleep(1.0)  # the feed reads its starting point
            meter = CpuMeter(server.pid).start()
            time.sleep(idle_seconds)
            idle_cpu = meter.stop()
            rss = rss_mib(server.pid)
            print(f"  {engine}: idle with {streams} streams: {idle_cpu:.2f} % of a core, RSS {rss:.0f} MiB", flush=True)
            meter.start()
            done = asyncio.run(make_changes(url, people, gap))
            busy_cpu = meter.stop()
            time.sleep(2.0)  # the last events arrive
            client_process.stdin.write("stop\n")
            client_process.stdin.flush()
            events = json.loads(client_process.stdout.readline())["events"]
        finally:
            client_process.kill()
            client_process.wait()
    values, missing = latencies(done, events, streams)
    ms = [v * 1000 for v in values]
    worst = max(ms) if ms else float("nan")
    write_ms = [(c - s) * 1000 for _, s, c in done]
    first_ms = first_stream(done, events)
    if per_change:
        print(f"  {engine}: per change, commit -> first / last stream (ms): " + ", ".join(
            f"{first:.0f}/{last:.0f}" for first, last in spread(done, events)), flush=True)
    print(f"  {engine}: {len(ms)} deliveries, {missing} missing, p50 {percentile(ms, 50):.0f} ms, "
          f"p99 {percentile(ms, 99):.0f} ms, max {worst:.0f} ms", flush=True)
    target = TARGET_LATENCY_MS[engine]
    ok_latency = f"<= {target:.0f} ms: " + ("met" if not missing and worst <= target else "MISSED")
    return [engine, streams, len(done), len(ms), missing, percentile(write_ms, 50), percentile(first_ms, 50),
            percentile(ms, 50), percentile(ms, 90),
            percentile(ms, 99), worst, ok_latency, f"{idle_cpu:.2f} %",
            verdict(idle_cpu, TARGET_IDLE_CPU_PCT, higher_is_better=False), f"{busy_cpu:.1f} %"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.5, help="mean seconds between changes")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--reuse", action="store_true", help="reuse the seeded database of a previous run")
    parser.add_argument("--name", default=None,
                        help="the database (PostgreSQL) or file stem (SQLite) to seed or reuse; default bench_live_<size>")
    parser.add_argument("--app-dir", default=str(ROOT), help="run the server from this checkout (before/after)")
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--per-change", action="store_true", help="print each change's first and last stream latency")
    parser.add_argument("--client-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client-cookie", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_port:
        asyncio.run(client(args.client_port, args.client_cookie, args.streams))
        return
    engines = ["sqlite", "postgres"] if args.engine == "all" else [args.engine]
    extra = {"postgres": asyncio.run(pg_server_version(args.pg_url))} if "postgres" in engines else {}
    print_environment(extra)
    rows = []
    for engine in engines:
        name = args.name or DATABASE_NAME.format(size=fmt_count(args.instances))
        url = existing(engine, name, args.workdir, args.pg_url) if args.reuse else None
        if url is None:
            url, seconds = seed(engine, args.instances, workdir=args.workdir, pg_url=args.pg_url, name=name)
            print(f"  {engine}: seeded {args.instances:,} invitations in {seconds:.1f} s", flush=True)
        rows.append(run_engine(engine, url, args.streams, args.changes, args.idle_seconds, args.gap, Path(args.app_dir),
                               args.per_change))
    print_table(
        f"Live updates, {args.streams} SSE streams, one organisation with {fmt_count(args.instances)} invitations",
        ["engine", "streams", "changes", "deliveries", "missing", "write ms", "first stream p50 ms", "p50 ms", "p90 ms", "p99 ms", "max ms",
         "latency target", f"idle CPU ({args.idle_seconds:g} s)", f"<= {TARGET_IDLE_CPU_PCT:g} %",
         "CPU while changing"],
        rows,
    )
    print_environment(extra)


if __name__ == "__main__":
    main()
