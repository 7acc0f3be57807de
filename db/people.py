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


@dataclass
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
    "name": ("a.last_name, fi.id", "page.last_name, page.id"),
}
_SEARCH_SQL = (
    "(lower(a.email) LIKE {} ESCAPE '\\' OR lower(a.last_name) LIKE {} ESCAPE '\\' "
    "OR lower(a.first_name) LIKE {} ESCAPE '\\')"
)
# A search first asks the indexes on (organisation, lower(email | last_name | first_name))
# for matching accounts, as prefix ranges. Up to this many per column, the page is read
# from those accounts alone; a more common prefix is read by walking the organisation's
# rows in page order, where matches are dense enough to fill a page early.
SEARCH_CANDIDATES = 500
_CANDIDATES_SQL = " UNION ALL ".join(
    f"SELECT {arm} AS arm, id FROM (SELECT id FROM account WHERE organisation = {{}} "
    f"AND lower({column}) >= {{}} AND lower({column}) < {{}} LIMIT {{}}) AS arm{arm}"
    for arm, column in enumerate(("email", "last_name", "first_name"))
)


def _prefix_end(prefix: str) -> str | None:
    """The smallest string above every string that starts with `prefix`, in code point order."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if last == 0xD800:  # surrogates are no characters
            last = 0xE000
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


_CODE_POINT_COLLATIONS = ("c", "posix", "c.utf8", "c.utf-8")
_ranges_usable: dict[str, bool] = {}


async def _prefix_ranges_usable(db: Database) -> bool:
    """Whether `lower(x) >= p AND lower(x) < end(p)` finds exactly the values starting with p:
    SQLite compares text by code point; PostgreSQL only in a C collation (de_DE and the
    like order by language rules, where such a range misses values)."""
    if db.is_sqlite:
        return True
    usable = _ranges_usable.get(db.url)
    if usable is None:
        row = await db.fetch_one(
            Sql(FlowInstance, "SELECT datcollate FROM pg_database WHERE datname = current_database()")
        )
        usable = bool(row) and str(row["datcollate"]).lower() in _CODE_POINT_COLLATIONS
        _ranges_usable[db.url] = usable
    return usable


async def _search_candidates(db: Database, organisation_id: int, term: str) -> list[int] | None:
    """Ids of the accounts whose address, last or first name starts with `term`, or None
    when that is not cheap to know (a common prefix, or no usable index order)."""
    end = _prefix_end(term)
    if end is None or not await _prefix_ranges_usable(db):
        return None
    values = []
    for _ in range(3):
        values += [organisation_id, term, end, SEARCH_CANDIDATES + 1]
    rows = await db.fetch(Sql(FlowInstance, _CANDIDATES_SQL, *values))
    per_arm = [0, 0, 0]
    for row in rows:
        per_arm[row["arm"]] += 1
    if max(per_arm) > SEARCH_CANDIDATES:
        return None
    return sorted({row["id"] for row in rows})


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
        candidates = await _search_candidates(db, organisation_id, term)
        if candidates is not None:
            if not candidates:
                return Page([], None)
            # Unary plus: no index on the organisation, so SQLite reads the few candidates'
            # instances by account instead of walking all of the organisation's rows in order.
            conditions = ["+fi.organisation = {}", f"fi.account IN ({', '.join('{}' for _ in candidates)})"]
            values += candidates
    if state:
        conditions.append("fi.state = {}")
        values.append(state)
    if term:
        pattern = _escape_like(term) + "%"
        conditions.append(_SEARCH_SQL)
        values += [pattern, pattern, pattern]
    if sort not in _ORDERS:
        sort = "newest"
    if sort == "name":
        if cursor:
            last_name, _, last_id = cursor.rpartition("|")
            if last_id.isdigit():
                conditions.append("(a.last_name > {} OR (a.last_name = {} AND fi.id > {}))")
                values += [last_name, last_name, int(last_id)]
    elif cursor and cursor.isdigit():
        conditions.append("fi.id > {}" if sort == "oldest" else "fi.id < {}")
        values.append(int(cursor))
    order, page_order = _ORDERS[sort]
    sql, events = _page_sql(expiry_events, where=" AND ".join(conditions), order=order, page_order=page_order)
    rows = await db.fetch(Sql(FlowInstance, sql, *events, *values, page_size + 1))
    more = len(rows) > page_size
    people = [_row_with_state(r) for r in rows[:page_size]]
    next_cursor = None
    if more and people:
        last = people[-1]
        next_cursor = f"{last.last_name}|{last.instance_id}" if sort == "name" else str(last.instance_id)
    return Page(people, next_cursor)


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
