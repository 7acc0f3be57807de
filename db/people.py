"""What the Nutzerverwaltung shows: one organisation's invitations, a page at a time.

Keyset pagination (WHERE id < last id seen), never OFFSET: deep pages of 100 000
rows cost the same as the first."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from db import name_order
from db.engine import Database, Sql
from db.tables import AuditEvent, FlowInstance, Outbox, TransitionHistory, id_from

PAGE_SIZE = 50
SORTS = ("newest", "oldest", "name")


class PersonRow(NamedTuple):
    """A row of the admin table as read. A tuple: cheap to build (50 a page, where a frozen
    dataclass sets each field through object.__setattr__), and equal rows hash alike, so a
    page's rendered rows can be kept under its rows (web/controllers/users.py)."""

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
    "FROM ({rows}) AS page "
    "ORDER BY {page_order}"
)
_COLUMNS = (
    "fi.id, fi.state, fi.flow_name, fi.flow_version, fi.version, fi.created_at, fi.updated_at, "
    "a.salutation, a.first_name, a.last_name, a.email, fi.account, a.name_key"
)
_ROWS = "SELECT " + _COLUMNS + " FROM {source} WHERE {where} ORDER BY {order} LIMIT {{}}"
_ALL = "flow_instance fi LEFT JOIN account a ON a.id = fi.account"
_ORDERS = {"newest": ("fi.id DESC", "page.id DESC"), "oldest": ("fi.id", "page.id")}
# Sorted by name, in German order (last name, then first name; db/name_order.py), a page
# walks the index account (organisation, name_key, id) (migration m0034) and each account's
# instances (an account can have several), so a page reads its 51 rows wherever it starts,
# where sorting all 100 000 rows took ~25 ms. Instances without an account (the API can
# start them) sort first, as an empty name, on both engines; they come from the account
# index of flow_instance, and only the first pages (cursor still at an empty name) look
# for them. The cursor is "name key|account|instance".
_NAMED = "account a JOIN flow_instance fi ON fi.account = a.id"
_NAME_ORDER = "a.name_key, a.id, fi.id"
_NAME_PAGE_ORDER = "COALESCE(page.name_key, ''), COALESCE(page.account, 0), page.id"
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
# A term of ASCII characters only needs no Python: SQLite's own LIKE folds ASCII letters,
# and a match of an ASCII term consists of ASCII letters ("uber" does not match "Über"
# either way). About 1 us per row instead of 2-3 us with py_lower.
_SQLITE_ASCII_SEARCH = f"({SEARCH_TEXT}) LIKE {{}} ESCAPE '\\'"
TRIGRAM = 3


# A term that many people match (a common last name) is read the other way on SQLite:
# walking the organisation's rows in page order fills a page early, where reading and
# sorting all matches first cost ~15 ms for 2 500 of 100 000. The walk checks an ASCII
# term with LIKE: for "schulz" (2 500 of 100 000) 1.1 ms, where listing every match of
# the trigram table to check against them took 2.1 ms, and 45 ms for "example" (all rows).
COMMON = 500


async def _common_on_sqlite(db: Database, condition: str, value: str) -> bool:
    sql = "SELECT count(*) AS n FROM (SELECT rowid FROM account_search WHERE account_search MATCH {} LIMIT {}) AS m"
    row = await db.fetch_one(Sql(FlowInstance, sql, value, COMMON + 1))
    return row["n"] > COMMON


def _search_condition(db: Database, term: str) -> tuple[str, str]:
    if not db.is_sqlite:
        return _PG_SEARCH, f"%{_escape_like(term)}%"
    if len(term) >= TRIGRAM:
        return _SQLITE_SEARCH, '"' + term.replace('"', '""') + '"'  # one FTS5 string: the term as written
    return _SQLITE_ASCII_SEARCH if term.isascii() else _SQLITE_SHORT_SEARCH, f"%{_escape_like(term)}%"


def _page_sql(expiry_events: Collection[str], rows: str, page_order: str) -> tuple[str, list[str]]:
    """The page statement and its first arguments: the events of the expiry timers, which
    the caller takes from the flow's timer purpose "expiry" (any version of the flow)."""
    events = sorted(expiry_events)
    return _PAGE_SQL.format(events=", ".join("{}" for _ in events), rows=rows, page_order=page_order), events


def _name_cursor(cursor: str | None) -> tuple[str, int, int] | None:
    """ "name key|account|instance" as written by list_page; None for anything else
    (an account of 0 stands for the instances without one)."""
    parts = (cursor or "").rsplit("|", 2)
    if len(parts) != 3 or "\x00" in parts[0] or len(parts[0]) > name_order.KEY_MAX:
        return None
    account_id = 0 if parts[1] == "0" else id_from(parts[1])
    instance_id = id_from(parts[2])
    if account_id is None or instance_id is None:
        return None
    return parts[0], account_id, instance_id


async def list_page(
    db: Database, organisation_id: int, state: str | None = None, search: str = "", sort: str = "newest",
    cursor: str | None = None, page_size: int = PAGE_SIZE, *, expiry_events: Collection[str],
) -> Page:
    conditions: list[str] = []
    values: list = []
    term = search.strip().lower()
    if "\x00" in term:  # no name or address holds a NUL (PostgreSQL refuses one): nothing matches
        return Page([], None)
    searched = _search_condition(db, term) if term else None
    if searched:
        conditions.append(searched[0])
        values.append(searched[1])
    if state:
        conditions.append("fi.state = {}")
        values.append(state)
    if sort == "name":
        sql, arguments = _name_rows(
            db, organisation_id, conditions, values, _name_cursor(cursor), bool(searched), bool(state), page_size,
        )
        page_order = _NAME_PAGE_ORDER
    else:
        if sort not in _ORDERS:
            sort = "newest"
        if (last_id := id_from(cursor or "")) is not None:
            conditions.append("fi.id > {}" if sort == "oldest" else "fi.id < {}")
            values.append(last_id)
        # Unary plus on SQLite for a rare term: no index on the organisation, so the database
        # reads the matching accounts' instances instead of walking all the organisation's
        # rows. (PostgreSQL chooses by itself, see _PG_SEARCH.)
        rare = False
        if searched is not None and db.is_sqlite and searched[0] == _SQLITE_SEARCH:
            rare = not await _common_on_sqlite(db, *searched)
            if not rare and term.isascii():
                conditions[0], values[0] = _SQLITE_ASCII_SEARCH, f"%{_escape_like(term)}%"
        organisation = "+fi.organisation = {}" if rare else "fi.organisation = {}"
        order, page_order = _ORDERS[sort]
        sql = _ROWS.format(source=_ALL, where=" AND ".join([organisation, *conditions]), order=order)
        arguments = [organisation_id, *values, page_size + 1]
    sql, events = _page_sql(expiry_events, sql, page_order)
    rows = await db.fetch_tuples(Sql(FlowInstance, sql, *events, *arguments))
    more = len(rows) > page_size
    people = [_page_row(*r) for r in rows[:page_size]]
    next_cursor = None
    if more and people:
        last = rows[page_size - 1]
        instance_id, account_id, key = last[0], last[11], last[12]
        next_cursor = f"{key or ''}|{account_id or 0}|{instance_id}" if sort == "name" else str(instance_id)
    return Page(people, next_cursor)


def _name_rows(
    db: Database, organisation_id: int, conditions: list[str], values: list, cursor: tuple[str, int, int] | None,
    searching: bool, filtered: bool, page_size: int,
) -> tuple[str, list]:
    """The rows of a name-sorted page and their arguments (see _NAMED)."""
    # Which index leads, set with a unary plus (which hides a column from the index choice
    # on both engines). Without a search the name index is walked; on SQLite the instance's
    # organisation is then only checked, or SQLite read all the organisation's instances and
    # sorted them (~25 ms for 100 000). A search reads its matches and sorts them: all
    # 2 500 "Schulz" lie together in name order, and walking up to them read most of the
    # index (40-80 ms, where sorting the matches takes 15-30 ms). A status filter on SQLite
    # reads through (organisation, state, id) and sorts; PostgreSQL chooses by its statistics.
    account_plus = "+" if searching or (db.is_sqlite and filtered) else ""
    instance_plus = "+" if db.is_sqlite and (searching or not filtered) else ""
    named = [f"{account_plus}a.organisation = {{}}", f"{instance_plus}fi.organisation = {{}}", *conditions]
    named_values = [organisation_id, organisation_id, *values]
    if cursor is not None:
        key, account_id, instance_id = cursor
        # The pair reaches the index (organisation, name_key, id); the triple settles ties.
        named += ["(a.name_key, a.id) >= ({}, {})", "(a.name_key, a.id, fi.id) > ({}, {}, {})"]
        named_values += [key, account_id, key, account_id, instance_id]
    rows = _ROWS.format(source=_NAMED, where=" AND ".join(named), order=_NAME_ORDER)
    if cursor is not None and cursor[:2] != ("", 0):
        return rows, [*named_values, page_size + 1]
    nameless = ["+fi.organisation = {}", "fi.account IS NULL", *conditions]  # the few without an account
    nameless_values = [organisation_id, *values]
    if cursor is not None:
        nameless.append("fi.id > {}")
        nameless_values.append(cursor[2])
    sql = (
        "SELECT * FROM (" + _ROWS.format(source=_ALL, where=" AND ".join(nameless), order="fi.id") + ") AS nameless "
        "UNION ALL SELECT * FROM (" + rows + ") AS named"
    )
    return sql, [*nameless_values, page_size + 1, *named_values, page_size + 1]


def _page_row(
    instance_id, state, flow_name, flow_version, version, created_at, updated_at, salutation, first_name, last_name,
    email, account_id, name_key, expires_at, mail_failed,
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
    expires_at = r["expires_at"]
    if isinstance(expires_at, str):  # SQLite gives a subquery's value its column type; be safe anyway
        expires_at = datetime.fromisoformat(expires_at)
    return _row(r)._replace(expires_at=expires_at, mail_failed=bool(r["mail_failed"]))


async def one(db: Database, organisation_id: int, instance_id: int, *, expiry_events: Collection[str]) -> PersonRow | None:
    """One row, only if it belongs to the organisation (ids in URLs are checked, SES-7)."""
    rows = _ROWS.format(source=_ALL, where="fi.id = {} AND fi.organisation = {}", order="fi.id")
    sql, events = _page_sql(expiry_events, rows, "page.id")
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
