"""Reports from "Barriere melden" (A11Y-2): stored append-only, listed for operators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from db.engine import Database, Sql, Step
from db.tables import BarrierReport

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class NewReport:
    page_url: str
    description: str
    email: str
    client_ip: str


async def add(db: Database, report: NewReport, now: datetime, limit_per_hour: int) -> int | None:
    """Store the report; None (nothing written) when its client address already sent
    `limit_per_hour` reports in the hour before `now`.

    Count and insert are one statement. On PostgreSQL a transaction lock per address
    comes first, so parallel submissions from one address are counted one after the
    other; SQLite has one writer at a time anyway."""
    steps: list[Step] = []
    # PostgreSQL does not take the types of a SELECT list from the INSERT's columns.
    values = "{}, {}, {}, {}, {}" if db.is_sqlite else "{}::varchar, {}::text, {}::varchar, {}::varchar, {}::timestamptz"
    if not db.is_sqlite:
        steps.append(Step(Sql(BarrierReport, "SELECT pg_advisory_xact_lock(hashtext({}))", f"barrier_report:{report.client_ip}")))
    steps.append(
        Step(
            Sql(
                BarrierReport,
                'INSERT INTO "barrier_report" ("page_url", "description", "email", "client_ip", "created_at") '
                f"SELECT {values} "
                'WHERE (SELECT count(*) FROM "barrier_report" WHERE "client_ip" = {} AND "created_at" > {}) < {} '
                'RETURNING "id"',
                report.page_url, report.description, report.email, report.client_ip, now,
                report.client_ip, now - WINDOW, limit_per_hour,
            )
        )
    )
    rows = (await db.write(steps))[-1]
    return rows[0]["id"] if rows else None


async def latest(db: Database, limit: int) -> list[dict]:
    """The newest `limit` reports, oldest first (for reading top to bottom)."""
    rows = await db.fetch(
        BarrierReport.select(
            BarrierReport.id, BarrierReport.created_at, BarrierReport.page_url, BarrierReport.email, BarrierReport.description
        )
        .order_by(BarrierReport.id, ascending=False)
        .limit(limit)
    )
    return rows[::-1]
