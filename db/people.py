"""What the Nutzerverwaltung shows: one organisation's invitations, a page at a time.

Keyset pagination (WHERE id < last id seen), never OFFSET: deep pages of 100 000
rows cost the same as the first."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from db.engine import Database, Sql
from db.tables import AuditEvent, FlowInstance, Outbox, TransitionHistory

PAGE_SIZE = 50
SORTS = ("newest", "oldest", "name")


@dataclass(slots=True)
class PersonRow:
    instance_id: int
    state: str
    flow_name: str
    flow_version: int
    version: int
    salutation: str
    first_name: str
    last_name: str
    email: str
    invited_at: datetime
    last_activity_at: datetime
    expires_at: datetime | None = None
    mail_failed: bool = False

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass
class Page:
    rows: list[PersonRow]
    next_cursor: str | None


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The page in one statement: the rows (a subquery with its own LIMIT, which neither engine
# merges into the outer query), then for the rows of the page only their pending expiry and
# whether a mail failed. (A MATERIALIZED CTE instead made SQLite sort all rows for
# sort=name: 100 ms instead of 24 ms for 100 000 rows.)
# Hand-written (db.engine.Sql): Piccolo's builder cost ~0.5 ms per statement here, and the
# separate timer and outbox queries were two more round trips per page.
_PAGE_SQL = (
    "SELECT page.*, "
    "(SELECT t.due_at FROM timer t WHERE t.instance = page.id AND t.event IN ({events}) AND t.status = 'pending' "
    "ORDER BY t.id DESC LIMIT 1) AS expires_at, "
    "EXISTS (SELECT 1 FROM outbox o WHERE o.instance = page.id AND o.status = 'failed') AS mail_failed "
    "FROM (SELECT fi.id, fi.state, fi.flow_name, fi.flow_version, fi.version, fi.created_at, fi.updated_at, "
    "a.salutation, a.first_name, a.last_name, a.email "
    "FROM flow_instance fi LEFT JOIN account a ON a.id = fi.account "
    "WHERE {where} ORDER BY {order} LIMIT {{}}) AS page "
    "ORDER BY {page_order}"
)
_ORDERS = {
    "newest": ("fi.id DESC", "page.id DESC"),
    "oldest": ("fi.id", "page.id"),
    # An instance without an account (the API can start one) sorts as an empty name: first,
    # on both engines (they place NULL differently), and reachable by the cursor.
    "name": ("COALESCE(a.last_name, ''), fi.id", "COALESCE(page.last_name, ''), page.id"),
}
# A search finds people by any part of their name or address, case-insensitive for all
# letters ("üb" finds "ÜBEL"), through an index (migration m0023): PostgreSQL a pg_trgm GIN
# index on lower(SEARCH_TEXT); SQLite the FTS5 trigram table account_search (rowid = the
# account), whose tokenizer folds case and which triggers keep in sync with account.
SEARCH_TEXT = "a.first_name || ' ' || a.last_name || ' ' || a.email"
# PostgreSQL picks the plan by how many rows it expects to match, from the statistics
# ANALYZE keeps on the index's expression (migration m0031 runs it once; autovacuum keeps
# it up to date): a rare term is read through the trigram index and its few matches sorted
# (~0.2 ms for 100 000 rows); a common one (2.5 % or more) walks the page order and keeps
# the rows that match until the page is full (~2-3 ms), where reading all 2 500-5 000
# matches through the index, joining and sorting them took ~40 ms.
_PG_SEARCH = f"lower({SEARCH_TEXT}) LIKE {{}} ESCAPE '\\'"
_SQLITE_SEARCH = "fi.account IN (SELECT rowid FROM account_search WHERE account_search MATCH {})"
# A trigram index needs three characters; a shorter term on SQLite is compared with every
# row's text, lowercased by Python (db.engine registers `py_lower`: SQLite's lower() folds
# ASCII letters only).
_SQLITE_SHORT_SEARCH = f"py_lower({SEARCH_TEXT}) LIKE {{}} ESCAPE '\\'"
TRIGRAM = 3


# A term that many people match (a common last name) is read the other way on SQLite:
# walking the organisation's rows in page order fills a page early, where reading and
# sorting all matches first cost ~15 ms for 2 500 of 100 000.
COMMON = 500


async def _common_on_sqlite(db: Database, condition: str, value: str) -> bool:
    if condition != _SQLITE_SEARCH:
        return False
    sql = "SELECT count(*) AS n FROM (SELECT rowid FROM account_search WHERE account_search MATCH {} LIMIT {}) AS m"
    row = await db.fetch_one(Sql(FlowInstance, sql, value, COMMON + 1))
    return row["n"] > COMMON


def _search_condition(db: Database, term: str) -> tuple[str, str]:
    if not db.is_sqlite:
        return _PG_SEARCH, f"%{_escape_like(term)}%"
    if len(term) >= TRIGRAM:
        return _SQLITE_SEARCH, '"' + term.replace('"', '""') + '"'  # one FTS5 string: the term as written
    return _SQLITE_SHORT_SEARCH, f"%{_escape_like(term)}%"


def _page_sql(expiry_events: Collection[str], **parts: str) -> tuple[str, list[str]]:
    """The page statement and its first arguments: the events of the expiry timers, which
    the caller takes from the flow's timer purpose "expiry" (any version of the flow)."""
    events = sorted(expiry_events)
    return _PAGE_SQL.format(events=", ".join("{}" for _ in events), **parts), events


async def list_page(
    db: Database, organisation_id: int, state: str | None = None, search: str = "", sort: str = "newest",
    cursor: str | None = None, page_size: int = PAGE_SIZE, *, expiry_events: Collection[str],
) -> Page:
    conditions = ["fi.organisation = {}"]
    values: list = [organisation_id]
    term = search.strip().lower()
    if term:
        condition, value = _search_condition(db, term)
        if db.is_sqlite and not await _common_on_sqlite(db, condition, value):
            # Unary plus: no index on the organisation for a search, so the database reads
            # the matching accounts' instances instead of walking all the organisation's rows.
            # (PostgreSQL chooses by itself, see _PG_SEARCH.)
            conditions[0] = "+fi.organisation = {}"
        conditions.append(condition)
        values.append(value)
    if state:
        conditions.append("fi.state = {}")
        values.append(state)
    if sort not in _ORDERS:
        sort = "newest"
    if sort == "name":
        if cursor:
            last_name, _, last_id = cursor.rpartition("|")
            if last_id.isdigit():
                conditions.append("(COALESCE(a.last_name, '') > {} OR (COALESCE(a.last_name, '') = {} AND fi.id > {}))")
                values += [last_name, last_name, int(last_id)]
    elif cursor and cursor.isdigit():
        conditions.append("fi.id > {}" if sort == "oldest" else "fi.id < {}")
        values.append(int(cursor))
    order, page_order = _ORDERS[sort]
    sql, events = _page_sql(expiry_events, where=" AND ".join(conditions), order=order, page_order=page_order)
    rows = await db.fetch_tuples(Sql(FlowInstance, sql, *events, *values, page_size + 1))
    more = len(rows) > page_size
    people = [_page_row(*r) for r in rows[:page_size]]
    next_cursor = None
    if more and people:
        last = people[-1]
        next_cursor = f"{last.last_name}|{last.instance_id}" if sort == "name" else str(last.instance_id)
    return Page(people, next_cursor)


def _page_row(
    instance_id, state, flow_name, flow_version, version, created_at, updated_at, salutation, first_name, last_name,
    email, expires_at, mail_failed,
) -> PersonRow:
    """A row of _PAGE_SQL, its columns in order, built with positional arguments: ~0.6 us
    where keyword arguments and a dict per row cost ~5 us (50 rows a page)."""
    if isinstance(expires_at, str):  # as in _row_with_state
        expires_at = datetime.fromisoformat(expires_at)
    return PersonRow(
        instance_id, state, flow_name, flow_version, version, salutation or "", first_name or "", last_name or "",
        email or "", created_at, updated_at, expires_at, bool(mail_failed),
    )


def _row_with_state(r: dict) -> PersonRow:
    person = _row(r)
    expires_at = r["expires_at"]
    if isinstance(expires_at, str):  # SQLite gives a subquery's value its column type; be safe anyway
        expires_at = datetime.fromisoformat(expires_at)
    person.expires_at = expires_at
    person.mail_failed = bool(r["mail_failed"])
    return person


async def one(db: Database, organisation_id: int, instance_id: int, *, expiry_events: Collection[str]) -> PersonRow | None:
    """One row, only if it belongs to the organisation (ids in URLs are checked, SES-7)."""
    sql, events = _page_sql(expiry_events, where="fi.id = {} AND fi.organisation = {}", order="fi.id", page_order="page.id")
    row = await db.fetch_one(Sql(FlowInstance, sql, *events, instance_id, organisation_id, 1))
    return _row_with_state(row) if row is not None else None


def _row(r: dict) -> PersonRow:
    return PersonRow(
        instance_id=r["id"], state=r["state"], flow_name=r["flow_name"], flow_version=r["flow_version"],
        version=r["version"], salutation=r["salutation"] or "", first_name=r["first_name"] or "",
        last_name=r["last_name"] or "", email=r["email"] or "", invited_at=r["created_at"],
        last_activity_at=r["updated_at"],
    )


async def timeline(db: Database, instance_id: int) -> list[dict]:
    return await db.fetch(
        TransitionHistory.select(
            TransitionHistory.event, TransitionHistory.from_state, TransitionHistory.to_state,
            TransitionHistory.actor, TransitionHistory.created_at,
        ).where(TransitionHistory.instance == instance_id).order_by(TransitionHistory.id)
    )


async def security_events(db: Database, instance_id: int, events: tuple[str, ...]) -> list[dict]:
    """Audit events of these kinds about the person (e.g. "Das war ich nicht"), oldest first."""
    rows = await db.fetch(
        AuditEvent.select(AuditEvent.event, AuditEvent.created_at, AuditEvent.details)
        .where((AuditEvent.instance == instance_id) & AuditEvent.event.is_in(list(events)))
        .order_by(AuditEvent.id)
    )
    # Database.fetch runs the compiled SQL itself, so JSON columns arrive as text.
    return [{**row, "details": json.loads(row["details"]) if isinstance(row["details"], str) else row["details"]} for row in rows]


async def account_of(db: Database, instance_id: int) -> int | None:
    """The invited person's account of an instance."""
    row = await db.fetch_one(FlowInstance.select(FlowInstance.account).where(FlowInstance.id == instance_id))
    return row["account"] if row else None


async def mails(db: Database, instance_id: int) -> list[dict]:
    return await db.fetch(
        Outbox.select(Outbox.id, Outbox.kind, Outbox.status, Outbox.attempts, Outbox.created_at, Outbox.sent_at, Outbox.last_error)
        .where(Outbox.instance == instance_id).order_by(Outbox.id)
    )


async def changed_since(db: Database, after_history_id: int, limit: int = 500) -> list[dict]:
    """History rows newer than a cursor, for the live feed (all organisations)."""
    return await changes_after(db, after_history_id, (), limit)


async def changes_after(db: Database, after_history_id: int, also_ids=(), limit: int = 500) -> list[dict]:
    """History rows (id, organisation, instance) above the cursor (at most `limit`), and those
    of `also_ids` (ids below it that were not visible yet), in id order."""
    newer = (
        "SELECT id, organisation, instance FROM (SELECT id, organisation, instance FROM transition_history "
        "WHERE id > {} ORDER BY id LIMIT {}) AS newer"
    )
    also_ids = sorted(also_ids)
    if not also_ids:
        return await db.fetch(Sql(TransitionHistory, newer + " ORDER BY id", after_history_id, limit))
    # UNION ALL, not `id > x OR id IN (...)`: with OR, SQLite scans the whole table.
    template = (
        f"SELECT id, organisation, instance FROM transition_history WHERE id IN ({', '.join('{}' for _ in also_ids)}) "
        f"UNION ALL {newer} ORDER BY id"
    )
    return await db.fetch(Sql(TransitionHistory, template, *also_ids, after_history_id, limit))


async def organisation_changes_after(db: Database, organisation_id: int, after_history_id: int, limit: int) -> list[dict]:
    """An organisation's history rows (id, instance) above the cursor, oldest first (a live
    stream that reconnects catches up with these; index transition_history_org_id)."""
    return await db.fetch(Sql(
        TransitionHistory,
        "SELECT id, instance FROM transition_history WHERE organisation = {} AND id > {} ORDER BY id LIMIT {}",
        organisation_id, after_history_id, limit,
    ))


async def latest_history_id(db: Database) -> int:
    row = await db.fetch_one(Sql(TransitionHistory, "SELECT max(id) AS id FROM transition_history"))
    return row["id"] if row and row["id"] is not None else 0


async def latest_instance_of(db: Database, account_id: int) -> dict | None:
    """A person's newest flow instance (an account may have been invited more than once)."""
    return await db.fetch_one(
        FlowInstance.select(FlowInstance.id, FlowInstance.state, FlowInstance.flow_name, FlowInstance.flow_version)
        .where(FlowInstance.account == account_id)
        .order_by(FlowInstance.id, ascending=False)
        .limit(1)
    )
