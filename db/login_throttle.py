"""Login start limits counted in the database (PIN-6, LIM-1): one row per key (an account,
an unknown username, a client address). Every decision is one conditional UPDATE on that
row, so parallel starts in any number of processes are counted one after the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from db.engine import Sql, Step
from db.tables import LoginThrottle

# A limit reached again within this time after the previous wait ended makes the next
# wait longer; a quiet day starts over at the shortest wait.
STRIKE_MEMORY = timedelta(hours=24)


@dataclass(frozen=True)
class Limit:
    starts: int  # per window
    window: timedelta
    max_wait: timedelta

    def waits(self) -> list[timedelta]:
        """The growing waits: the window, then doubled each time, up to max_wait."""
        result = [self.window]
        while result[-1] < self.max_wait:
            result.append(min(result[-1] * 2, self.max_wait))
        return result


def ensure_step(key: str, now: datetime) -> Step:
    return Step(Sql(
        LoginThrottle,
        'INSERT INTO login_throttle ("key", window_start, "count", strikes) VALUES ({}, {}, 0, 0) '
        'ON CONFLICT ("key") DO NOTHING',
        key, now,
    ))


def count_step(key: str, limit: Limit, now: datetime) -> Step:
    """Take one start; RETURNING is empty when the window is full, the key waits, or the
    account is on hold after "Das war ich nicht"."""
    cut = now - limit.window
    return Step(Sql(
        LoginThrottle,
        'UPDATE login_throttle SET '
        '"count" = CASE WHEN window_start <= {} THEN 1 ELSE "count" + 1 END, '
        'window_start = CASE WHEN window_start <= {} THEN {} ELSE window_start END '
        'WHERE "key" = {} AND (blocked_until IS NULL OR blocked_until <= {}) '
        'AND (hold_until IS NULL OR hold_until <= {}) AND (window_start <= {} OR "count" < {}) '
        'RETURNING "count"',
        cut, cut, now, key, now, now, cut, limit.starts,
    ))


def exempt_step(key: str, now: datetime) -> Step:
    """For a known browser: counts nothing, ignores the wait, but respects the hold. The
    UPDATE also locks the row until commit, as count_step does."""
    return Step(Sql(
        LoginThrottle,
        'UPDATE login_throttle SET "count" = "count" WHERE "key" = {} AND (hold_until IS NULL OR hold_until <= {}) '
        'RETURNING "count"',
        key, now,
    ))


def strike_step(key: str, limit: Limit, now: datetime, is_sqlite: bool) -> Step:
    """After a refused start of a full window: wait, longer than last time if the last
    wait ended less than STRIKE_MEMORY ago. Parallel refusals strike once (the WHERE)."""
    waits = limit.waits()
    # PostgreSQL types a CASE of bare parameters as text; SQLite knows no such cast.
    at = "{}" if is_sqlite else "{}::timestamptz"
    recent = "blocked_until IS NOT NULL AND blocked_until > {}"
    branches = " ".join(f"WHEN strikes = {{}} THEN {at}" for _ in waits[1:])
    values: list = []
    for number, wait in enumerate(waits[1:], start=1):
        values += [number, now + wait]
    next_wait = f"CASE {branches} ELSE {at} END" if branches else at
    return Step(Sql(
        LoginThrottle,
        f'UPDATE login_throttle SET strikes = CASE WHEN {recent} THEN strikes + 1 ELSE 1 END, '
        f'blocked_until = CASE WHEN {recent} THEN {next_wait} ELSE {at} END, '
        '"count" = 0, window_start = {} '
        'WHERE "key" = {} AND (blocked_until IS NULL OR blocked_until <= {}) AND window_start > {} AND "count" >= {}',
        now - STRIKE_MEMORY, now - STRIKE_MEMORY, *values, now + waits[-1], now + waits[0],
        now, key, now, now - limit.window, limit.starts,
    ))


def hold_steps(key: str, now: datetime, until: datetime) -> list[Step]:
    """No new login requests for the key until `until` ("Das war ich nicht")."""
    return [
        ensure_step(key, now),
        Step(Sql(LoginThrottle, 'UPDATE login_throttle SET hold_until = {} WHERE "key" = {}', until, key)),
    ]


def serialize_step(key: str, is_sqlite: bool) -> Step | None:
    """PostgreSQL: a transaction lock per key, so the starts of one account (counting, the
    pending requests, the numbers in use) happen one after the other. SQLite has one
    writer at a time anyway."""
    if is_sqlite:
        return None
    return Step(Sql(LoginThrottle, "SELECT pg_advisory_xact_lock(hashtext({}))", f"login_start:{key}"))
