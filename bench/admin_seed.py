"""One organisation with N invitations for the Nutzerverwaltung benchmarks, and its admin's session.

The schema comes from `partnerportal db upgrade` (the real CLI). The rows are generated in
Python and bulk-loaded (sqlite3 `executemany` in one transaction, asyncpg
`copy_records_to_table`), with the columns of db/tables.py. Unlike bench/seed.py (many
organisations, every instance `invited`, time frozen at T0) this is one organisation whose
people are spread over the flow's states, with names for search and sorting, on the real
clock (the server runs on the system clock):

    state        share   pending timers                              links
    invited       50 %   expire, remind_inactive, remind_expiring    1
    in_progress   10 %   expire, remind_expiring, remind_device      1
    registered     5 %   -                                           -
    consented      5 %   -                                           -
    active        20 %   -                                           -
    expired        7 %   purge                                       -
    revoked        2 %   purge                                       -
    locked         1 %   -                                           -

Every instance has one history row and one mail in the outbox (sent; every 250th failed).
Instances were created over the last 60 days in id order; pending timers lie in the future,
except `due` `expire` timers of `invited` instances that fell due a minute ago (work for a
worker's sweep). Account 1 is the organisation's admin; person i has account i + 1.

The admin's session and consent records are written through the app's code, as
tests/support/admin.py `login_session` does (server-side session, current documents accepted).

    python -m bench.admin_seed --engine sqlite --instances 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.common import (
    DEFAULT_PG_URL,
    DEFAULT_WORKDIR,
    ROOT,
    fmt_count,
    pg_recreate_database,
    remove_sqlite,
    sqlite_path,
)
from bench.seed import flow_version
from db.name_order import name_key

ORGANISATION_ID = 1
ADMIN_ACCOUNT_ID = 1
FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Karl",
    "Lea", "Lukas", "Marie", "Max", "Mia", "Noah", "Paul", "Sophie", "Tim", "Zoe",
)
LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
    "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
    "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Schmitz", "Krause", "Meier",
    "Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann", "König", "Walter", "Mayer", "Huber",
)
# i % 100 -> state
STATE_SHARES = (
    ("invited", 50), ("in_progress", 10), ("registered", 5), ("consented", 5), ("active", 20),
    ("expired", 7), ("revoked", 2), ("locked", 1),
)
_STATE_OF = [s for s, share in STATE_SHARES for _ in range(share)]
TIMERS_OF = {
    "invited": (("expire", 720), ("remind_inactive", 72), ("remind_expiring", 672)),
    "in_progress": (("expire", 720), ("remind_expiring", 672), ("remind_device", 48)),
    "expired": (("purge", 720),),
    "revoked": (("purge", 720),),
}
LINK_STATES = ("invited", "in_progress")
SPAN = timedelta(days=60)


def state_of(i: int) -> str:
    return _STATE_OF[i % 100]


def _ascii(name: str) -> str:
    return name.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")


def person(i: int) -> tuple[str, str, str, str]:
    """(salutation, first, last, email) of instance i."""
    first = FIRST_NAMES[(i * 7) % len(FIRST_NAMES)]
    last = LAST_NAMES[i % len(LAST_NAMES)]
    salutation = ("Frau", "Herr", "")[i % 3]
    return salutation, first, last, f"{_ascii(first)}.{_ascii(last)}{i}@example.org"


def rows(instances: int, due: int, now: datetime) -> dict[str, list[tuple]]:
    """Every table's rows, as tuples in the column order of COLUMNS."""
    now = now.replace(microsecond=0)
    step = SPAN / max(1, instances)
    out: dict[str, list[tuple]] = {t: [] for t in COLUMNS}
    out["organisation"].append((ORGANISATION_ID, "Bench Pflegedienst", now - SPAN - timedelta(days=1)))
    out["account"].append(
        (ADMIN_ACCOUNT_ID, ORGANISATION_ID, "admin", "Frau", "Ada", "Admin", "admin@example.org", now - SPAN - timedelta(days=1),
         name_key("Ada", "Admin"))
    )
    version = flow_version()
    history_details = json.dumps({"flow_version": version, "mails": ["invitation"]})
    timer_id = 0
    due_left = due
    for i in range(1, instances + 1):
        created = now - SPAN + step * i
        created = created.replace(microsecond=0)
        state = state_of(i)
        salutation, first, last, email = person(i)
        account = i + 1
        out["account"].append((account, ORGANISATION_ID, "staff", salutation, first, last, email, created, name_key(first, last)))
        updated = created if state == "invited" else min(now, created + timedelta(hours=30))
        out["flow_instance"].append(
            (i, ORGANISATION_ID, account, "onboarding", version, state, 1 if state == "invited" else 3, "{}", created, updated)
        )
        out["transition_history"].append(
            (i, i, ORGANISATION_ID, "invite", "new", "invited", f"account:{ADMIN_ACCOUNT_ID}", "192.0.2.1",
             history_details, created)
        )
        for event, hours in TIMERS_OF.get(state, ()):
            timer_id += 1
            due_at = max(created + timedelta(hours=hours), now + timedelta(hours=1, seconds=i % 3600))
            if due_left and state == "invited" and event == "expire":
                due_at = now - timedelta(minutes=1)
                due_left -= 1
            out["timer"].append((timer_id, i, event, due_at, "pending", None))
        failed = i % 250 == 0
        out["outbox"].append(
            (i, ORGANISATION_ID, i, "invitation", email, json.dumps({"flow_version": version, "state": "invited"}),
             "failed" if failed else "sent", 5 if failed else 1, created, "550 mailbox unavailable" if failed else "",
             created, None if failed else created + timedelta(seconds=5))
        )
        if state in LINK_STATES:
            out["invitation_link"].append(
                (i, i, f"{i:064d}", "invitation", created, created + timedelta(hours=720), None)
            )
    return out


COLUMNS = {
    "organisation": ("id", "name", "created_at"),
    "account": ("id", "organisation", "role", "salutation", "first_name", "last_name", "email", "created_at", "name_key"),
    "flow_instance": ("id", "organisation", "account", "flow_name", "flow_version", "state", "version", "context",
                      "created_at", "updated_at"),
    "transition_history": ("id", "instance", "organisation", "event", "from_state", "to_state", "actor", "client_ip",
                           "details", "created_at"),
    "timer": ("id", "instance", "event", "due_at", "status", "fired_at"),
    "outbox": ("id", "organisation", "instance", "kind", "recipient", "payload", "status", "attempts",
               "next_attempt_at", "last_error", "created_at", "sent_at"),
    "invitation_link": ("id", "instance", "token_hash", "purpose", "created_at", "expires_at", "ended_at"),
}


def db_upgrade(url: str) -> None:
    """`partnerportal db upgrade` against `url`, as an operator runs it."""
    env = {**os.environ, "PARTNERPORTAL_DATABASE_URL": url}
    command = [str(Path(sys.executable).with_name("partnerportal")), "db", "upgrade"]
    if not Path(command[0]).exists():
        command = [sys.executable, "-m", "partnerportal", "db", "upgrade"]
    subprocess.run(command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def _sqlite_value(value):
    # Piccolo's SQLite adapter stores timestamps as str(datetime in UTC).
    return str(value) if isinstance(value, datetime) else value


def load_sqlite(path: Path, data: dict[str, list[tuple]]) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-131072")
        connection.execute("BEGIN")
        for table, columns in COLUMNS.items():
            marks = ", ".join("?" * len(columns))
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                ([_sqlite_value(v) for v in row] for row in data[table]),
            )
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


async def load_pg(url: str, data: dict[str, list[tuple]]) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            for table, columns in COLUMNS.items():
                await connection.copy_records_to_table(table, records=data[table], columns=list(columns))
            for table in COLUMNS:
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def admin_session(url: str) -> str:
    """A login session of the admin, with the current documents accepted; returns the cookie value."""
    from db.engine import Database
    from core.clock import SystemClock
    from tests.support.admin import login_session

    db = Database(url)
    await db.start(pool_size=1)
    try:
        return await login_session(db, SystemClock(), ADMIN_ACCOUNT_ID, ORGANISATION_ID)
    finally:
        await db.close()


def seed(engine: str, instances: int, due: int = 0, workdir: str | Path = DEFAULT_WORKDIR,
         pg_url: str = DEFAULT_PG_URL, name: str | None = None) -> tuple[str, float]:
    """A fresh, migrated, seeded database; returns its URL and the seconds it took."""
    start = time.perf_counter()
    name = name or f"bench_admin_{fmt_count(instances)}"
    if engine == "sqlite":
        path = sqlite_path(workdir, name)
        remove_sqlite(path)
        url = f"sqlite:///{path}"
    else:
        url = asyncio.run(pg_recreate_database(pg_url, name))
    db_upgrade(url)
    data = rows(instances, due, datetime.now(timezone.utc))
    if engine == "sqlite":
        load_sqlite(path, data)
    else:
        asyncio.run(load_pg(url, data))
    return url, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=0, help="expire timers of invited instances due now")
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="an existing database to connect to for CREATE DATABASE")
    parser.add_argument("--name", default=None, help="file / database name (default bench_admin_<size>)")
    args = parser.parse_args()
    url, seconds = seed(args.engine, args.instances, args.due, args.workdir, args.pg_url, args.name)
    print(f"seeded {args.instances:,} invitations in {seconds:.1f} s")
    print(f"session cookie: pp_session={asyncio.run(admin_session(url))}")


if __name__ == "__main__":
    main()
