"""Memory of `partnerportal worker` on a database with one organisation of N invitations.

The database (bench/admin_seed.py) gets D `expire` timers of invited people made due now;
then the real `partnerportal worker` starts (scheduler: timer sweep and mail dispatcher;
no SMTP configured, so mails go to the development mailbox table). Its RSS is read from
/proc/<pid>/status when the sweep has fired all D timers and when the dispatcher has handled
the D expiry mails (with the seconds since the process started), and two job intervals later;
VmHWM is the peak (target: RSS <= 150 MiB).

    python -m bench.worker_memory                        # both engines, 100 000 invitations, 2 000 due
    python -m bench.worker_memory --engine sqlite --instances 10000 --due 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.admin_seed import seed
from bench.admin_server import peak_rss_mib, rss_mib
from bench.admin_table import existing
from bench.common import (
    DEFAULT_PG_URL,
    DEFAULT_WORKDIR,
    ROOT,
    fmt_count,
    pg_server_version,
    print_environment,
    print_table,
    verdict,
)

TARGET_RSS_MIB = 150.0


async def _query(url: str, sql: str, *values):
    from db.engine import Database, Sql
    from db.tables import Timer

    db = Database(url)
    await db.start(pool_size=1)
    try:
        return await db.fetch(Sql(Timer, sql, *values))
    finally:
        await db.close()


def _ts(url: str, moment: datetime):
    # Piccolo's SQLite adapter stores str(datetime in UTC); PostgreSQL takes the datetime.
    return str(moment.replace(microsecond=0)) if url.startswith("sqlite") else moment


def make_due(url: str, due: int) -> int:
    """Make `due` pending expire timers of invited people due a minute ago; returns how many."""
    now = datetime.now(timezone.utc)
    rows = asyncio.run(_query(
        url,
        "UPDATE timer SET due_at = {} WHERE id IN (SELECT t.id FROM timer t JOIN flow_instance fi ON fi.id = t.instance "
        "WHERE t.status = 'pending' AND t.event = 'expire' AND fi.state = 'invited' ORDER BY t.id DESC LIMIT {}) "
        "RETURNING id",
        _ts(url, now - timedelta(minutes=1)), due,
    ))
    return len(rows)


def counts(url: str) -> tuple[int, int]:
    """(timers due now and still pending, mails waiting in the outbox)."""
    now = _ts(url, datetime.now(timezone.utc))
    (due,) = asyncio.run(_query(url, "SELECT count(*) AS n FROM timer WHERE status = 'pending' AND due_at <= {}", now))
    (mails,) = asyncio.run(_query(url, "SELECT count(*) AS n FROM outbox WHERE status = 'pending'"))
    return due["n"], mails["n"]


def expired(url: str) -> int:
    (row,) = asyncio.run(_query(url, "SELECT count(*) AS n FROM transition_history WHERE event = 'expire'"))
    return row["n"]


def run_engine(engine: str, url: str, due: int, timeout: float, interval: float) -> list[object]:
    made_due = make_due(url, due)
    executable = Path(sys.executable).with_name("partnerportal")
    command = [str(executable), "worker"] if executable.exists() else [sys.executable, "-m", "partnerportal", "worker"]
    env = {
        **os.environ, "PARTNERPORTAL_DATABASE_URL": url, "PARTNERPORTAL_ENVIRONMENT": "production",
        "PARTNERPORTAL_SECRET_KEY": secrets.token_urlsafe(48), "PARTNERPORTAL_SWEEP_INTERVAL_SECONDS": str(interval),
        "PARTNERPORTAL_BASE_URL": "https://portal.example",
    }
    expired_before = expired(url)
    begin = time.monotonic()
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = worker.pid
    try:
        deadline = begin + timeout
        swept = mailed = float("nan")
        sweep_s = mail_s = float("nan")
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited with {worker.returncode}")
            pending_due, pending_mail = counts(url)
            if pending_due == 0 and swept != swept:
                swept, sweep_s = rss_mib(pid), time.monotonic() - begin
            if pending_due == 0 and pending_mail == 0:
                mailed, mail_s = rss_mib(pid), time.monotonic() - begin
                break
            time.sleep(0.2)
        time.sleep(2 * interval)  # one more idle round of both jobs
        settled, peak = rss_mib(pid), peak_rss_mib(pid)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    fired = expired(url) - expired_before
    print(f"  {engine}: {fired} expired; RSS after sweep {swept:.0f}, after mails {mailed:.0f}, "
          f"settled {settled:.0f}, peak {peak:.0f} MiB", flush=True)
    return [engine, made_due, fired, swept, sweep_s, mailed, mail_s, settled, peak,
            verdict(max(settled, peak), TARGET_RSS_MIB, higher_is_better=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=2000, help="expire timers made due before the worker starts")
    parser.add_argument("--interval", type=float, default=1.0, help="the worker's sweep interval, seconds")
    parser.add_argument("--timeout", type=float, default=180.0, help="give up waiting for sweep and mails after this")
    parser.add_argument("--reuse", action="store_true", help="reuse the seeded database of a previous run")
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()
    engines = ["sqlite", "postgres"] if args.engine == "all" else [args.engine]
    extra = {"postgres": asyncio.run(pg_server_version(args.pg_url))} if "postgres" in engines else {}
    print_environment(extra)
    rows = []
    for engine in engines:
        url = existing(engine, args.instances, args.workdir, args.pg_url) if args.reuse else None
        if url is None:
            url, seconds = seed(engine, args.instances, workdir=args.workdir, pg_url=args.pg_url)
            print(f"  {engine}: seeded {args.instances:,} invitations in {seconds:.1f} s", flush=True)
        rows.append(run_engine(engine, url, args.due, args.timeout, args.interval))
    print_table(
        f"`partnerportal worker` memory, one organisation with {fmt_count(args.instances)} invitations, RSS in MiB",
        ["engine", "made due", "expired", "after sweep", "by s", "after mails", "by s", "settled", "peak (VmHWM)",
         f"<= {TARGET_RSS_MIB:.0f} MiB"],
        rows,
    )
    print_environment(extra)


if __name__ == "__main__":
    main()
