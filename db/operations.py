"""Numbers an operator watches, read from the database at scrape time: the same in every
process, and correct however many processes run (partnerportal/metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from db.engine import Database, Sql
from db.tables import TransitionHistory


@dataclass
class Snapshot:
    transitions: dict[tuple[str, str], int] = field(default_factory=dict)  # (flow, event) -> count
    timers_due: int = 0
    oldest_due_seconds: float = 0.0
    outbox: dict[str, int] = field(default_factory=dict)  # status -> count
    outbox_retrying: int = 0  # pending mails that failed at least once and wait for the next try
    login_requests: dict[str, int] = field(default_factory=dict)  # status -> count


def _moment(value) -> datetime | None:
    # SQLite returns timestamps as text.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


async def snapshot(db: Database, now: datetime) -> Snapshot:
    result = Snapshot()
    for row in await db.fetch(Sql(
        TransitionHistory,
        "SELECT fi.flow_name AS flow, th.event AS event, count(*) AS n FROM transition_history th "
        "JOIN flow_instance fi ON fi.id = th.instance GROUP BY fi.flow_name, th.event",
    )):
        result.transitions[(row["flow"], row["event"])] = row["n"]
    due = await db.fetch_one(Sql(
        TransitionHistory,
        "SELECT count(*) AS n, min(due_at) AS oldest FROM timer WHERE status = 'pending' AND due_at <= {}", now,
    ))
    result.timers_due = due["n"] if due else 0
    oldest = _moment(due["oldest"]) if due else None
    result.oldest_due_seconds = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    for row in await db.fetch(Sql(TransitionHistory, "SELECT status, count(*) AS n FROM outbox GROUP BY status")):
        result.outbox[row["status"]] = row["n"]
    retrying = await db.fetch_one(Sql(
        TransitionHistory,
        "SELECT count(*) AS n FROM outbox WHERE status = 'pending' AND attempts > 0 AND last_error <> ''",
    ))
    result.outbox_retrying = retrying["n"] if retrying else 0
    for row in await db.fetch(Sql(TransitionHistory, "SELECT status, count(*) AS n FROM login_challenge GROUP BY status")):
        result.login_requests[row["status"]] = row["n"]
    return result
