"""Nutzerverwaltung table under load: `/nutzerverwaltung/` served by a real server, measured with wrk.

One organisation holds N invitations (bench/admin_seed.py); its admin's session cookie (and
the CSRF cookie a browser would hold after its first page) goes with every request. The
server is one uvicorn worker unless `--workers N` (bench/admin_server.py). For each page and each number of
connections wrk first warms up, then runs for a fixed time (`--latency` distribution).

Pages (newest first unless said otherwise):
    first       the first page
    deep        a keyset cursor far down (id N/100: the 50 rows below it, page ~1 980 of 2 000)
    status      filtered by status `expired` (7 % of the rows)
    search      search `schulz` (a last name prefix, 2.5 % of the rows)
    search-one  search one person's e-mail address (1 row: no early end of a scan)
    name        sorted by last name (not among the targets)
    name-deep   sorted by last name, a page from the middle (cursor of instance N/2)

Targets (issue 12): 32 connections >= 700 req/s and p99 <= 80 ms; 1 connection p50 <= 2 ms and
p99 <= 5 ms; server CPU <= 1.4 ms per page.
"CPU ms/req" is the server process's CPU time (all threads) per request: it varies less
with other load on the machine than req/s does, and 1000 / it is what one free core could do.

--compare DIR runs a second server from another checkout (e.g. `git archive <commit> | tar
-x -C DIR`) on the same database and alternates the measurements between the two.

    python -m bench.admin_table                                  # both engines, 100 000 invitations
    python -m bench.admin_table --engine sqlite --instances 10000 --seconds 3 --pages first,search-one
    python -m bench.admin_table --reuse --compare /path/to/older/checkout
    python -m bench.admin_table --reuse --breakdown --pages first,search-one [--compare ...]
    python -m bench.admin_table --floor                          # the server stack alone, no app
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.admin_seed import admin_session, person, seed
from bench.admin_server import cpu_seconds, rss_mib, serve
from bench.common import (
    DEFAULT_PG_URL,
    DEFAULT_WORKDIR,
    ROOT,
    fmt_count,
    pg_server_version,
    print_environment,
    print_table,
)

TARGET_RPS_32 = 700.0
TARGET_P99_32_MS = 80.0
TARGET_P50_1_MS = 2.0
TARGET_P99_1_MS = 5.0
PAGES = ("first", "deep", "status", "search", "search-one", "name", "name-deep")
ROW_MARK = '<tr id="person-'
PRODUCTION_SESSION_COOKIE = "__Host-pp_session"


def page_paths(instances: int) -> dict[str, str]:
    one = person(max(1, instances // 100) + 1)[3]
    middle = max(1, instances // 2)  # a name page from the middle: cursor "last name|account|instance"
    return {
        "first": "/nutzerverwaltung/",
        "deep": f"/nutzerverwaltung/?cursor={max(2, instances // 100)}",
        "status": "/nutzerverwaltung/?status=expired",
        "search": "/nutzerverwaltung/?q=schulz",
        "search-one": f"/nutzerverwaltung/?q={quote(one)}",
        "name": "/nutzerverwaltung/?sort=name",
        "name-deep": f"/nutzerverwaltung/?sort=name&cursor={quote(f'{person(middle)[2]}|{middle + 1}|{middle}')}",
    }


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    errors: int
    server_cpu_pct: float
    # Server CPU time per request: what one core could serve if nothing else ran (1000 / this = req/s).
    cpu_ms_per_request: float


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> tuple[float, dict[str, float], int, int]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    percentiles = {p: _ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.MULTILINE)}
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        errors += sum(int(g) for g in m.groups())
    return rps, percentiles, requests, errors


def wrk(url: str, cookie: str, connections: int, seconds: float, server_pid: int) -> WrkResult:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency",
        "-H", f"Cookie: {cookie}", url,
    ]
    cpu_before, wall_before = cpu_seconds(server_pid), time.monotonic()
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    cpu, wall = cpu_seconds(server_pid) - cpu_before, time.monotonic() - wall_before
    rps, pct, requests, errors = parse_wrk(output)
    return WrkResult(rps, pct.get("50", float("nan")), pct.get("90", float("nan")), pct.get("99", float("nan")),
                     requests, errors, cpu / wall * 100, cpu * 1000 / max(1, requests))


async def _browser_cookies(base_url: str, token: str, path: str) -> tuple[str, int, int]:
    """The Cookie header a browser sends after its first page (session + CSRF), and what one page holds."""
    # The server runs with production settings, whose session cookie carries the __Host- prefix.
    async with httpx.AsyncClient(base_url=base_url, cookies={PRODUCTION_SESSION_COOKIE: token}, timeout=30) as client:
        response = await client.get(path)
        response.raise_for_status()
        if "Nutzerverwaltung" not in response.text:
            raise RuntimeError(f"{path}: not the table page (status {response.status_code})")
        # The CSRF cookie is marked Secure (production), so httpx keeps it to itself over http://.
        jar = {PRODUCTION_SESSION_COOKIE: token}
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            jar[name.strip()] = rest.split(";", 1)[0]
        cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        return cookie, response.text.count(ROW_MARK), len(response.content)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def run_engine(engine: str, url: str, instances: int, pages: list[str], connections: list[int],
               seconds: float, warmup: float, variants: list[tuple[str, Path | None]], rounds: int = 1,
               workers: int = 1) -> list[list[object]]:
    """Every page and connection count, per variant (label, checkout to run the app from).

    With several variants all servers run at once and the measurements alternate between
    them in `rounds` rounds of seconds/rounds each, so that other load on the machine hits
    them alike; req/s, latencies and CPU are summed over the rounds (p99: the median round)."""
    token = asyncio.run(admin_session(url))
    paths = page_paths(instances)
    table: list[list[object]] = []
    with contextlib.ExitStack() as stack:
        servers = [(label, stack.enter_context(serve(url, app_dir=app_dir, workers=workers))) for label, app_dir in variants]
        for name in pages:
            cookies = {}
            for label, server in servers:
                cookies[label], rows, size = asyncio.run(_browser_cookies(server.base_url, token, paths[name]))
            for conns in connections:
                runs: dict[str, list[WrkResult]] = {label: [] for label, _ in servers}
                for round_ in range(rounds):
                    for label, server in servers:
                        if warmup > 0 and round_ == 0:
                            wrk(server.base_url + paths[name], cookies[label], conns, warmup, server.pid)
                        runs[label].append(
                            wrk(server.base_url + paths[name], cookies[label], conns, seconds / rounds, server.pid)
                        )
                for label, _ in servers:
                    r = _combine(runs[label])
                    if conns >= 32:
                        target = f">= {TARGET_RPS_32:.0f}/s, p99 <= {TARGET_P99_32_MS:.0f} ms"
                        ok = "met" if r.rps >= TARGET_RPS_32 and r.p99_ms <= TARGET_P99_32_MS else "MISSED"
                    else:
                        target = f"p50 <= {TARGET_P50_1_MS:.0f} ms, p99 <= {TARGET_P99_1_MS:.0f} ms"
                        ok = "met" if r.p50_ms <= TARGET_P50_1_MS and r.p99_ms <= TARGET_P99_1_MS else "MISSED"
                    if name == "name":
                        ok = "(no target)"
                    table.append([engine, label, name, rows, f"{size / 1024:.0f} KiB", conns, r.rps, r.p50_ms, r.p90_ms,
                                  r.p99_ms, r.errors, f"{r.server_cpu_pct:.0f} %", r.cpu_ms_per_request, target, ok])
                    print(f"  {engine} {label} {name} c={conns}: {r.rps:.0f}/s p99 {r.p99_ms:.1f} ms, "
                          f"{r.cpu_ms_per_request:.2f} ms CPU/request", flush=True)
        for label, server in servers:
            print(f"  {label} server RSS after the load: {rss_mib(server.pid):.0f} MiB", flush=True)
    return table


def _combine(results: list[WrkResult]) -> WrkResult:
    requests = sum(r.requests for r in results)
    return WrkResult(
        rps=_median([r.rps for r in results]),
        p50_ms=_median([r.p50_ms for r in results]),
        p90_ms=_median([r.p90_ms for r in results]),
        p99_ms=_median([r.p99_ms for r in results]),
        requests=requests,
        errors=sum(r.errors for r in results),
        server_cpu_pct=_median([r.server_cpu_pct for r in results]),
        cpu_ms_per_request=sum(r.cpu_ms_per_request * r.requests for r in results) / max(1, requests),
    )


# Runs in a child process whose import path starts with the checkout to measure, so it
# imports nothing from bench/ (an older checkout may not have these files).
_BREAKDOWN_SCRIPT = """
import asyncio, functools, json, logging, statistics, sys, time
logging.disable(logging.INFO)
import httpx, jinja2
import db.consent, db.people, db.sessions
from core.settings import Settings
from web.app import create_app
parts = {}
def timed(owner, name, label, is_async):
    fn = getattr(owner, name)
    if is_async:
        async def wrapper(*a, **k):
            start = time.process_time()
            try:
                return await fn(*a, **k)
            finally:
                parts.setdefault(label, []).append(time.process_time() - start)
    else:
        def wrapper(*a, **k):
            start = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                parts.setdefault(label, []).append(time.process_time() - start)
    setattr(owner, name, functools.wraps(fn)(wrapper))
timed(db.sessions, "load", "sessions.load", True)
timed(db.consent, "history", "consent.history", True)
timed(db.people, "list_page", "people.list_page", True)
timed(jinja2.Template, "render", "template rendering", False)
async def main(url, token, paths, requests):
    app = create_app(Settings(database_url=url, secret_key="x" * 48, scheduler_enabled=False))
    out = {}
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", cookies={"pp_session": token}) as client:
            for path in paths:
                for _ in range(10):
                    (await client.get(path)).raise_for_status()
                parts.clear()
                whole = []
                for _ in range(requests):
                    start = time.process_time()
                    await client.get(path)
                    whole.append(time.process_time() - start)
                out[path] = {"whole request": statistics.median(whole) * 1000,
                             **{k: statistics.median(v) * 1000 for k, v in parts.items()}}
    print(json.dumps(out))
asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:-1], int(sys.argv[-1])))
"""


def breakdown(url: str, instances: int, pages: list[str], app_dir: Path | None, requests: int = 60) -> dict:
    """Median CPU ms per request and per part (session, consent, query, rendering), in-process."""
    import json
    import os
    import sys

    token = asyncio.run(admin_session(url))
    paths = page_paths(instances)
    directory = str(app_dir or ROOT)
    env = {**os.environ, "PYTHONPATH": directory}
    command = [sys.executable, "-c", _BREAKDOWN_SCRIPT, url, token, *(paths[p] for p in pages), str(requests)]
    output = subprocess.run(command, cwd=directory, env=env, check=True, capture_output=True, text=True).stdout
    by_path = json.loads(output.strip().splitlines()[-1])
    return {page: by_path[paths[page]] for page in pages}


FLOOR_APPS = (
    ("uvicorn alone", "bench.floor_app:asgi"),
    ("uvicorn + Litestar", "--factory bench.floor_app:create_litestar"),
)


def floor(connections: list[int], seconds: float, warmup: float, size: int) -> list[list[object]]:
    """The server stack's own CPU per request for a body of the page's size (bench/floor_app.py)."""
    rows = []
    for label, app in FLOOR_APPS:
        with serve("sqlite:///unused", app=app, BENCH_FLOOR_BYTES=str(size)) as server:
            for conns in connections:
                if warmup > 0:
                    wrk(server.base_url + "/nutzerverwaltung/", "", conns, warmup, server.pid)
                r = wrk(server.base_url + "/nutzerverwaltung/", "", conns, seconds, server.pid)
                rows.append([label, f"{size / 1024:.0f} KiB", conns, r.rps, r.p50_ms, r.p99_ms, r.errors,
                             f"{r.server_cpu_pct:.0f} %", r.cpu_ms_per_request])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--pages", default=",".join(PAGES), help=f"comma-separated, of {', '.join(PAGES)}")
    parser.add_argument("--connections", default="32,1", help="comma-separated wrk connection counts")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per page and connection count")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each measurement")
    parser.add_argument("--reuse", action="store_true", help="reuse the seeded database of a previous run")
    parser.add_argument("--compare", default=None, metavar="DIR",
                        help="also run the app from this checkout (e.g. `git archive` of an older commit), "
                        "alternating with this one")
    parser.add_argument("--rounds", type=int, default=None,
                        help="alternating rounds per measurement (default 1, or 3 with --compare)")
    parser.add_argument("--breakdown", action="store_true",
                        help="no wrk: CPU ms per request and per part, in-process (with --compare: both checkouts)")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes per server (CPU ms/req then counts all of them)")
    parser.add_argument("--floor", action="store_true",
                        help="no app, no database: what uvicorn alone and uvicorn with a bare Litestar app cost "
                             "per request for a body of the first page's size (bench/floor_app.py)")
    parser.add_argument("--floor-bytes", type=int, default=27 * 1024, help="the body's size with --floor")
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--name", default=None,
                        help="file / database name of the seeded data (default bench_admin_<size>; "
                             "give your own where others benchmark on the same PostgreSQL)")
    args = parser.parse_args()
    pages = [p for p in args.pages.split(",") if p]
    unknown = set(pages) - set(PAGES)
    if unknown:
        parser.error(f"unknown pages: {', '.join(sorted(unknown))}")
    connections = [int(c) for c in args.connections.split(",")]
    if args.floor:
        print_environment({})
        print_table(f"The floor: the server stack alone, wrk {args.seconds:g} s per row",
                    ["server", "body", "conns", "req/s", "p50 ms", "p99 ms", "errors", "server CPU", "CPU ms/req"],
                    floor(connections, args.seconds, args.warmup, args.floor_bytes))
        return
    engines = ["sqlite", "postgres"] if args.engine == "all" else [args.engine]
    extra = {}
    if "postgres" in engines:
        extra["postgres"] = asyncio.run(pg_server_version(args.pg_url))
    print_environment(extra)
    rows: list[list[object]] = []
    for engine in engines:
        url = existing(engine, args.instances, args.workdir, args.pg_url, args.name) if args.reuse else None
        if url is None:
            start = time.perf_counter()
            url, _ = seed(engine, args.instances, workdir=args.workdir, pg_url=args.pg_url, name=args.name)
            print(f"  {engine}: seeded {args.instances:,} invitations in {time.perf_counter() - start:.1f} s", flush=True)
        variants = [("this", None)] if not args.compare else [("before", Path(args.compare)), ("after", None)]
        if args.breakdown:
            for label, app_dir in variants:
                for page, values in breakdown(url, args.instances, pages, app_dir).items():
                    rows.append([engine, label, page, *(f"{v:.2f}" for v in values.values())])
                    labels = list(values)
            continue
        rounds = args.rounds or (3 if args.compare else 1)
        rows += run_engine(engine, url, args.instances, pages, connections, args.seconds, args.warmup, variants, rounds,
                           args.workers)
    if args.breakdown:
        print_table(f"CPU ms per request (median), in-process, {fmt_count(args.instances)} invitations",
                    ["engine", "code", "page", *labels], rows)
        return
    print_table(
        f"Nutzerverwaltung table, one organisation with {fmt_count(args.instances)} invitations, "
        f"wrk {args.seconds:g} s per row",
        ["engine", "code", "page", "rows", "size", "conns", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "server CPU",
         "CPU ms/req", "target", "verdict"],
        rows,
    )
    print_environment(extra)


def existing(engine: str, instances: int, workdir: str, pg_url: str, name: str | None = None) -> str | None:
    """The URL of an already seeded database of this size, if there is one."""
    from bench.common import pg_url_for, sqlite_path

    name = name or f"bench_admin_{fmt_count(instances)}"
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


if __name__ == "__main__":
    main()
