"""Windowed limits that hold under concurrency and across processes (LIM-1).

Taking a use is one conditional INSERT (count the uses in the window, insert only below
the limit) inside the caller's transaction, so the use commits or rolls back with the
work it allows. On PostgreSQL a transaction lock per scope comes first, so parallel
transactions count one after the other (as in db/barrier_reports.py); SQLite writes
start with BEGIN IMMEDIATE and run one at a time anyway."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from db.engine import Sql, Step
from db.tables import LimitUse


@dataclass(frozen=True)
class Quota:
    scope: str  # what is limited and for whom, e.g. "admin-mail:account:7"
    limit: int
    window: timedelta


class QuotaExhausted(Exception):
    """The quota's window is full; the transaction was rolled back."""

    def __init__(self, quota: Quota):
        self.quota = quota
        super().__init__(f"limit of {quota.limit} per {quota.window} reached for {quota.scope.split(':')[0]}")


@dataclass(frozen=True)
class _TakeStep(Step):
    quota: Quota | None = None

    def check(self, rows: list) -> None:
        if not rows:
            raise QuotaExhausted(self.quota)


def take_steps(quotas: list[Quota], now: datetime, postgres: bool) -> list[Step]:
    """Statements that take one use of each quota, or raise QuotaExhausted from the write."""
    steps: list[Step] = []
    # One lock order for all transactions (sorted scopes): two quotas cannot deadlock.
    for quota in sorted(quotas, key=lambda q: q.scope):
        since = now - quota.window
        if postgres:
            steps.append(Step(Sql(LimitUse, "SELECT pg_advisory_xact_lock(hashtext({}))", f"limit_use:{quota.scope}")))
        # Uses that left the window count no more: keep the table as small as the limits.
        steps.append(Step(Sql(LimitUse, 'DELETE FROM "limit_use" WHERE "scope" = {} AND "created_at" <= {}', quota.scope, since)))
        values = "{}, {}" if not postgres else "{}::varchar, {}::timestamptz"
        steps.append(_TakeStep(
            Sql(
                LimitUse,
                f'INSERT INTO "limit_use" ("scope", "created_at") SELECT {values} '
                'WHERE (SELECT count(*) FROM "limit_use" WHERE "scope" = {} AND "created_at" > {}) < {} '
                'RETURNING "id"',
                quota.scope, now, quota.scope, since, quota.limit,
            ),
            quota=quota,
        ))
    return steps

