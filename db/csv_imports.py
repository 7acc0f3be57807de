"""Queries for CSV imports: store the checked rows, claim the next ones atomically,
record each row's result.

A run is done in steps by any number of requests, in any app process: each step
claims rows with one UPDATE ... RETURNING, so two steps never get the same row. A
claim older than STALE_CLAIM (its process died) may be taken over."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from db.engine import Database, Deferred, Sql, Step
from db.tables import Account, CsvImport, CsvImportRow

# Statements stay below SQLite's and PostgreSQL's limit of 32 766 parameters.
_MAX_PARAMETERS = 30_000
_LOOKUP_CHUNK = 500


class RowStatus(StrEnum):
    INVALID = "invalid"  # fails a rule; never invited
    KNOWN = "known"  # the address had an invitation or account when the file was checked
    PENDING = "pending"
    RUNNING = "running"  # claimed by one step
    INVITED = "invitation_sent"
    ALREADY_INVITED = "already_invited"  # found at run time
    LIMIT = "limit"  # the admin's hourly limit was reached; may be retried


@dataclass(frozen=True)
class NewRow:
    line: int
    salutation: str
    first_name: str
    last_name: str
    email: str
    problems: Sequence[str]
    status: RowStatus


@dataclass(frozen=True)
class ImportInfo:
    id: int
    organisation_id: int
    account_id: int
    filename: str
    encoding: str
    delimiter: str
    created_at: datetime
    started_at: datetime | None


@dataclass(frozen=True)
class ImportRow:
    id: int
    line: int
    salutation: str
    first_name: str
    last_name: str
    email: str
    problems: list[str]
    status: RowStatus
    instance_id: int | None

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


_IMPORT_COLUMNS = (
    'SELECT "id", "organisation", "account", "filename", "encoding", "delimiter", "created_at", "started_at" '
    'FROM "csv_import" '
)
_ROW_COLUMNS = (
    'SELECT "id", "line", "salutation", "first_name", "last_name", "email", "problems", "status", "instance" '
    'FROM "csv_import_row" '
)
_RETURNING_ROW = (
    ' RETURNING "id", "line", "salutation", "first_name", "last_name", "email", "problems", "status", "instance"'
)


def _info(row: dict) -> ImportInfo:
    return ImportInfo(
        row["id"], row["organisation"], row["account"], row["filename"], row["encoding"], row["delimiter"],
        row["created_at"], row["started_at"],
    )


def _row(row: dict) -> ImportRow:
    return ImportRow(
        row["id"], row["line"], row["salutation"], row["first_name"], row["last_name"], row["email"],
        [p for p in row["problems"].split("\n") if p], RowStatus(row["status"]), row["instance"],
    )


def _marks(count: int) -> str:
    return ", ".join(["{}"] * count)


async def create(
    db: Database, organisation_id: int, account_id: int, filename: str, encoding: str, delimiter: str,
    rows: Sequence[NewRow], now: datetime,
) -> int:
    """The import and all its rows, in one transaction; returns the import's id."""
    insert = Step(
        Sql(
            CsvImport,
            'INSERT INTO "csv_import" ("organisation", "account", "filename", "encoding", "delimiter", "created_at") '
            'VALUES ({}, {}, {}, {}, {}, {}) RETURNING "id"',
            organisation_id, account_id, filename, encoding, delimiter, now,
        ),
        expect_rows=1,
    )

    def row_inserts(results) -> list[Step]:
        import_id = results[0][0]["id"]
        values = [
            (import_id, r.line, r.salutation, r.first_name, r.last_name, r.email, "\n".join(r.problems), str(r.status), "")
            for r in rows
        ]
        return _insert_rows(values)

    results = await db.write([insert, Deferred(row_inserts)])
    return results[0][0]["id"]


def _insert_rows(values: list[tuple]) -> list[Step]:
    columns = ("csv_import", "line", "salutation", "first_name", "last_name", "email", "problems", "status", "claim")
    head = 'INSERT INTO "csv_import_row" (' + ", ".join(f'"{c}"' for c in columns) + ") VALUES "
    one = "(" + _marks(len(columns)) + ")"
    per_statement = _MAX_PARAMETERS // len(columns)
    steps = []
    for start in range(0, len(values), per_statement):
        chunk = values[start : start + per_statement]
        steps.append(Step(Sql(CsvImportRow, head + ", ".join([one] * len(chunk)), *[v for row in chunk for v in row])))
    return steps


async def get(db: Database, organisation_id: int, import_id: int) -> ImportInfo | None:
    """The import, or None if it does not exist or belongs to another organisation."""
    row = await db.fetch_one(
        Sql(CsvImport, _IMPORT_COLUMNS + 'WHERE "id" = {} AND "organisation" = {}', import_id, organisation_id)
    )
    return _info(row) if row else None


async def recent(db: Database, organisation_id: int, limit: int = 5) -> list[ImportInfo]:
    rows = await db.fetch(
        Sql(CsvImport, _IMPORT_COLUMNS + 'WHERE "organisation" = {} ORDER BY "created_at" DESC, "id" DESC LIMIT {}',
            organisation_id, limit)
    )
    return [_info(r) for r in rows]


async def rows(db: Database, import_id: int, row_ids: Iterable[int] | None = None) -> list[ImportRow]:
    """The import's rows in file order; with row_ids, only those."""
    if row_ids is None:
        found = await db.fetch(Sql(CsvImportRow, _ROW_COLUMNS + 'WHERE "csv_import" = {} ORDER BY "line"', import_id))
        return [_row(r) for r in found]
    ids = list(row_ids)
    if not ids:
        return []
    found = await db.fetch(
        Sql(CsvImportRow, _ROW_COLUMNS + f'WHERE "csv_import" = {{}} AND "id" IN ({_marks(len(ids))}) ORDER BY "line"',
            import_id, *ids)
    )
    return [_row(r) for r in found]


async def counts(db: Database, import_id: int) -> dict[RowStatus, int]:
    found = await db.fetch(
        Sql(CsvImportRow, 'SELECT "status", count(*) AS "n" FROM "csv_import_row" WHERE "csv_import" = {} GROUP BY "status"',
            import_id)
    )
    result = dict.fromkeys(RowStatus, 0)
    for r in found:
        result[RowStatus(r["status"])] = r["n"]
    return result


async def known_addresses(db: Database, organisation_id: int, emails: Iterable[str]) -> set[str]:
    """Which of these addresses (lower case) already have an account in the organisation."""
    wanted = sorted({e.lower() for e in emails})
    known: set[str] = set()
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start : start + _LOOKUP_CHUNK]
        found = await db.fetch(
            Sql(Account, f'SELECT lower("email") AS "email" FROM "account" WHERE "organisation" = {{}} '
                f'AND lower("email") IN ({_marks(len(chunk))})', organisation_id, *chunk)
        )
        known.update(r["email"] for r in found)
    return known


async def mark_started(db: Database, import_id: int, now: datetime) -> None:
    await db.write([Sql(CsvImport, 'UPDATE "csv_import" SET "started_at" = {} WHERE "id" = {} AND "started_at" IS NULL',
                        now, import_id)])


_CLAIMABLE = '("status" = \'pending\' OR ("status" = \'running\' AND "claimed_at" < {}))'


async def claim(db: Database, import_id: int, claim_id: str, now: datetime, stale_before: datetime, limit: int) -> list[ImportRow]:
    """Mark the next `limit` pending rows (or stale claims) as this step's, atomically.

    The outer WHERE repeats the condition: on PostgreSQL a concurrent step that
    claimed a row first makes it fail the re-check, so no row is claimed twice."""
    found = await db.write([
        Sql(
            CsvImportRow,
            'UPDATE "csv_import_row" SET "status" = \'running\', "claim" = {}, "claimed_at" = {} '
            'WHERE "id" IN (SELECT "id" FROM "csv_import_row" WHERE "csv_import" = {} AND ' + _CLAIMABLE
            + ' ORDER BY "line" LIMIT {}) AND ' + _CLAIMABLE + _RETURNING_ROW,
            claim_id, now, import_id, stale_before, limit, stale_before,
        )
    ])
    return sorted((_row(r) for r in found[0]), key=lambda r: r.line)


async def finish(db: Database, row_id: int, claim_id: str, status: RowStatus, instance_id: int | None) -> bool:
    """Record a claimed row's result; False if the claim was taken over meanwhile."""
    found = await db.write([
        Sql(
            CsvImportRow,
            'UPDATE "csv_import_row" SET "status" = {}, "instance" = {}, "claim" = \'\' '
            'WHERE "id" = {} AND "claim" = {} AND "status" = \'running\' RETURNING "id"',
            str(status), instance_id, row_id, claim_id,
        )
    ])
    return bool(found[0])


async def mark_limited(db: Database, import_id: int, claim_id: str) -> None:
    """The hourly limit is reached: this step's open rows and all pending rows wait for a retry."""
    await db.write([
        Sql(
            CsvImportRow,
            'UPDATE "csv_import_row" SET "status" = \'limit\', "claim" = \'\' WHERE "csv_import" = {} '
            'AND ("status" = \'pending\' OR ("status" = \'running\' AND "claim" = {}))',
            import_id, claim_id,
        )
    ])


async def release(db: Database, claim_id: str) -> None:
    """Give this step's unfinished rows back (after an unexpected error)."""
    await db.write([
        Sql(CsvImportRow, 'UPDATE "csv_import_row" SET "status" = \'pending\', "claim" = \'\' '
            'WHERE "claim" = {} AND "status" = \'running\'', claim_id)
    ])


async def retry_limited(db: Database, import_id: int) -> int:
    found = await db.write([
        Sql(CsvImportRow, 'UPDATE "csv_import_row" SET "status" = \'pending\' '
            'WHERE "csv_import" = {} AND "status" = \'limit\' RETURNING "id"', import_id)
    ])
    return len(found[0])


async def purge_before(db: Database, cutoff: datetime) -> int:
    """Delete imports (names and addresses) created before cutoff; returns how many."""
    found = await db.write([
        Sql(CsvImportRow, 'DELETE FROM "csv_import_row" WHERE "csv_import" IN '
            '(SELECT "id" FROM "csv_import" WHERE "created_at" < {})', cutoff),
        Sql(CsvImport, 'DELETE FROM "csv_import" WHERE "created_at" < {} RETURNING "id"', cutoff),
    ])
    return len(found[1])
