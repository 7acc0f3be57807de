"""Shared helpers: time budgets, percentiles, result tables, scratch databases."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Scratch SQLite files live under var/ (ignored by git); override with --workdir.
DEFAULT_WORKDIR = ROOT / "var" / "bench"
# The role must be allowed to CREATE DATABASE; every benchmark uses its own bench_* database.
DEFAULT_PG_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql://partnerportal:partnerportal@127.0.0.1:5432/partnerportal"
)
# The benchmarks' "now": the default start of core.clock.FrozenClock.
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def fmt_count(n: int) -> str:
    """10000 -> '10k', 1000000 -> '1M' (for table labels)."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a list of numbers."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def latency_summary(latencies_s: list[float]) -> dict[str, float]:
    """p50/p99/max in milliseconds."""
    return {
        "p50_ms": percentile(latencies_s, 50) * 1000,
        "p99_ms": percentile(latencies_s, 99) * 1000,
        "max_ms": max(latencies_s) * 1000 if latencies_s else float("nan"),
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(title: str, headers: list[str], rows: list[list[object]]) -> None:
    """A Markdown table, so results paste straight into docs/benchmarks.md."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            if value != value:  # nan
                return "-"
            if abs(value) >= 100:
                return f"{value:,.0f}"
            if abs(value) >= 10:
                return f"{value:.1f}"
            return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)]
    print()
    print(f"### {title}")
    print()
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in text:
        print("| " + " | ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths))) + " |")
    print(flush=True)


def verdict(value: float, target: float, higher_is_better: bool) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "MISSED"


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t: ...` then t[0] is the elapsed seconds."""
    box = [0.0]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - start


def environment() -> dict[str, str]:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        # Other work on the machine skews every number: the 1-minute load average says how busy it was.
        "loadavg": f"{os.getloadavg()[0]:.2f}",
    }


def print_environment(extra: dict[str, str] | None = None) -> None:
    info = {**environment(), **(extra or {})}
    print("# " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)


# -- scratch databases ---------------------------------------------------------


def sqlite_path(workdir: str | Path, name: str) -> Path:
    path = Path(workdir) / f"{name}.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{path}{suffix}")


def pg_url_for(admin_url: str, database: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path="/" + database))


async def pg_recreate_database(admin_url: str, database: str) -> str:
    """Drop and create `database` (must start with bench_); returns its URL."""
    import asyncpg

    if not database.startswith("bench_"):
        raise ValueError("benchmark databases must be named bench_*")
    await pg_drop_database(admin_url, database)
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{database}"')
    finally:
        await connection.close()
    return pg_url_for(admin_url, database)


async def pg_drop_database(admin_url: str, database: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url)
    try:
        for attempt in range(20):
            try:
                await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                return
            except asyncpg.exceptions.InsufficientPrivilegeError:
                # FORCE cannot end a superuser's session, e.g. an autovacuum worker: wait for it.
                if attempt == 19:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await connection.close()


async def pg_server_version(url: str) -> str:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()


def _process_cpu_seconds(pid: int | str) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[tuple[str, int], float]:
    """CPU seconds so far of each thread of this process, by (name, native id): which
    thread a benchmark's time is spent in (on SQLite, the database thread against the
    event loop's)."""
    sampled = {}
    for thread in threading.enumerate():
        seconds = _process_cpu_seconds(f"self/task/{thread.native_id}")
        if seconds is not None:
            sampled[(thread.name, thread.native_id)] = seconds
    return sampled


def thread_cpu_between(before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]) -> dict[str, float]:
    """CPU seconds per thread name between two `thread_cpu()` samples."""
    spent: dict[str, float] = {}
    for key, seconds in after.items():
        spent[key[0]] = spent.get(key[0], 0.0) + seconds - before.get(key, 0.0)
    return spent


async def pg_backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL backend connected to this URL's database
    (the server's side of a benchmark; needs the server on this machine). The difference
    of two samples is what the server spent in between, whatever else the machine runs."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        pids = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    samples = {row["pid"]: _process_cpu_seconds(row["pid"]) for row in pids}
    return {pid: cpu for pid, cpu in samples.items() if cpu is not None}


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two pg_backend_cpu samples (a backend started in between counts from zero)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


async def create_schema(url: str) -> None:
    """Run the app's migrations and store the shipped flow definitions, through the app's code."""
    from workflows import flow_snapshots
    from db.engine import Database
    from db.migrate import upgrade
    from workflows.registry import FlowRegistry

    db = Database(url)
    await db.start(pool_size=2)
    try:
        await upgrade(db)
        await flow_snapshots.sync(db, FlowRegistry.from_directory())
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def flow_service(url: str, pool_size: int = 8, clock=None):
    """An opened Database and a FlowService on it, like the app's lifespan builds them."""
    from workflows import flow_snapshots
    from db.engine import Database
    from core.clock import FrozenClock
    from workflows.registry import FlowRegistry
    from workflows.service import FlowService

    db = Database(url)
    await db.start(pool_size=pool_size)
    try:
        registry = FlowRegistry.from_directory()
        await flow_snapshots.sync(db, registry)
        yield FlowService(db, registry, clock or FrozenClock(T0))
    finally:
        await db.close()


def run(coro):
    return asyncio.run(coro)
