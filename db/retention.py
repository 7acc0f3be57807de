"""How long data is kept (issue 10; GDPR Art. 5(1)(e)): one rule per kind of data, each
deleting what is older than its setting, in batches, one short transaction each (so a
large backlog never holds a long lock). Run by the scheduler (jobs/retention.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from db.engine import Database, Sql, Step
from db.tables import AuditEvent

BATCH = 500


@dataclass(frozen=True)
class Rule:
    name: str
    setting: str  # the Settings field with the number of days
    statements: tuple[str, ...]  # each with {} for the cutoff and {} for the batch size; the last RETURNING "id"


def _delete(table: str, condition: str) -> str:
    return (
        f'DELETE FROM "{table}" WHERE "id" IN (SELECT "id" FROM "{table}" WHERE {condition} ORDER BY "id" LIMIT {{}}) '
        'RETURNING "id"'
    )


RULES = (
    Rule("csv_imports", "retention_csv_import_days", (
        # An import's rows (names and addresses) go with it, in the same transaction.
        'DELETE FROM "csv_import_row" WHERE "csv_import" IN '
        '(SELECT "id" FROM "csv_import" WHERE "created_at" < {} ORDER BY "id" LIMIT {})',
        _delete("csv_import", '"created_at" < {}'),
    )),
    Rule("barrier_reports", "retention_barrier_report_days", (_delete("barrier_report", '"created_at" < {}'),)),
    Rule("sessions", "retention_session_days", (
        _delete("web_session", '("ended_at" < {} OR "last_seen_at" < {})'),
    )),
    Rule("login_requests", "retention_session_days", (_delete("login_challenge", '"expires_at" < {}'),)),
    Rule("audit_events", "retention_audit_days", (_delete("audit_event", '"created_at" < {}'),)),
    Rule("outbox", "retention_outbox_days", (
        # Only mails that are done; those the development mailbox still shows go with it (below).
        _delete("outbox", '"created_at" < {} AND "status" IN (\'sent\', \'cancelled\', \'failed\') '
                          'AND "id" NOT IN (SELECT "outbox" FROM "dev_mail" WHERE "outbox" IS NOT NULL)'),
    )),
    Rule("dev_mailbox", "retention_dev_mailbox_days", (_delete("dev_mail", '"created_at" < {}'),)),
)


def _step(template: str, cutoff: datetime, batch: int) -> Step:
    cutoffs = [cutoff] * (template.count("{}") - 1)
    return Step(Sql(AuditEvent, template, *cutoffs, batch))


async def purge(db: Database, rule: Rule, cutoff: datetime, batch: int = BATCH) -> int:
    """Delete what the rule covers from before cutoff, batch by batch; returns how many."""
    total = 0
    while True:
        results = await db.write([_step(statement, cutoff, batch) for statement in rule.statements])
        deleted = len(results[-1])
        total += deleted
        if deleted < batch:
            return total


async def purge_all(db: Database, days: dict[str, int], now: datetime, batch: int = BATCH) -> dict[str, int]:
    """Every rule with its number of days (by setting name); returns the counts deleted."""
    return {rule.name: await purge(db, rule, now - timedelta(days=days[rule.setting]), batch) for rule in RULES}
