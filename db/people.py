"""What the Nutzerverwaltung shows: one organisation's invitations, a page at a time.

Keyset pagination (WHERE id < last id seen), never OFFSET: deep pages of 100 000
rows cost the same as the first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from piccolo.columns.combination import WhereRaw

from db.engine import Database
from db.tables import FlowInstance, Outbox, Timer, TransitionHistory

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


COLUMNS = (
    FlowInstance.id, FlowInstance.state, FlowInstance.flow_name, FlowInstance.flow_version, FlowInstance.version,
    FlowInstance.created_at, FlowInstance.updated_at,
    FlowInstance.account.salutation.as_alias("salutation"),
    FlowInstance.account.first_name.as_alias("first_name"),
    FlowInstance.account.last_name.as_alias("last_name"),
    FlowInstance.account.email.as_alias("email"),
)


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_page(
    db: Database, organisation_id: int, state: str | None = None, search: str = "", sort: str = "newest",
    cursor: str | None = None, page_size: int = PAGE_SIZE,
) -> Page:
    where = FlowInstance.organisation == organisation_id
    if state:
        where &= FlowInstance.state == state
    term = search.strip().lower()
    if term:
        pattern = _escape_like(term) + "%"
        where &= WhereRaw(
            "(lower(flow_instance$account.email) LIKE {} ESCAPE '\\' OR lower(flow_instance$account.last_name) LIKE {} ESCAPE '\\' "
            "OR lower(flow_instance$account.first_name) LIKE {} ESCAPE '\\')",
            pattern, pattern, pattern,
        )
    query = FlowInstance.select(*COLUMNS)
    if sort == "name":
        query = query.order_by(FlowInstance.account.last_name, FlowInstance.id)
        if cursor:
            last_name, _, last_id = cursor.rpartition("|")
            if last_id.isdigit():
                where &= WhereRaw(
                    "(flow_instance$account.last_name > {} OR (flow_instance$account.last_name = {} AND flow_instance.id > {}))",
                    last_name, last_name, int(last_id),
                )
    else:
        ascending = sort == "oldest"
        query = query.order_by(FlowInstance.id, ascending=ascending)
        if cursor and cursor.isdigit():
            where &= (FlowInstance.id > int(cursor)) if ascending else (FlowInstance.id < int(cursor))
    rows = await db.fetch(query.where(where).limit(page_size + 1))
    more = len(rows) > page_size
    rows = rows[:page_size]
    people = [_row(r) for r in rows]
    await _add_expiry_and_mail_state(db, people)
    next_cursor = None
    if more and people:
        last = people[-1]
        next_cursor = f"{last.last_name}|{last.instance_id}" if sort == "name" else str(last.instance_id)
    return Page(people, next_cursor)


async def one(db: Database, organisation_id: int, instance_id: int) -> PersonRow | None:
    """One row, only if it belongs to the organisation (ids in URLs are checked, SES-7)."""
    row = await db.fetch_one(
        FlowInstance.select(*COLUMNS).where(
            (FlowInstance.id == instance_id) & (FlowInstance.organisation == organisation_id)
        )
    )
    if row is None:
        return None
    person = _row(row)
    await _add_expiry_and_mail_state(db, [person])
    return person


def _row(r: dict) -> PersonRow:
    return PersonRow(
        instance_id=r["id"], state=r["state"], flow_name=r["flow_name"], flow_version=r["flow_version"],
        version=r["version"], salutation=r["salutation"] or "", first_name=r["first_name"] or "",
        last_name=r["last_name"] or "", email=r["email"] or "", invited_at=r["created_at"],
        last_activity_at=r["updated_at"],
    )


async def _add_expiry_and_mail_state(db: Database, people: list[PersonRow]) -> None:
    if not people:
        return
    ids = [p.instance_id for p in people]
    expiries = await db.fetch(
        Timer.select(Timer.instance, Timer.due_at).where(
            Timer.instance.is_in(ids) & (Timer.event == "expire") & (Timer.status == "pending")
        )
    )
    failed = await db.fetch(
        Outbox.select(Outbox.instance).where(Outbox.instance.is_in(ids) & (Outbox.status == "failed")).distinct()
    )
    due = {r["instance"]: r["due_at"] for r in expiries}
    failed_ids = {r["instance"] for r in failed}
    for person in people:
        person.expires_at = due.get(person.instance_id)
        person.mail_failed = person.instance_id in failed_ids


async def timeline(db: Database, instance_id: int) -> list[dict]:
    return await db.fetch(
        TransitionHistory.select(
            TransitionHistory.event, TransitionHistory.from_state, TransitionHistory.to_state,
            TransitionHistory.actor, TransitionHistory.created_at,
        ).where(TransitionHistory.instance == instance_id).order_by(TransitionHistory.id)
    )


async def mails(db: Database, instance_id: int) -> list[dict]:
    return await db.fetch(
        Outbox.select(Outbox.id, Outbox.kind, Outbox.status, Outbox.attempts, Outbox.created_at, Outbox.sent_at, Outbox.last_error)
        .where(Outbox.instance == instance_id).order_by(Outbox.id)
    )


async def changed_since(db: Database, after_history_id: int, limit: int = 500) -> list[dict]:
    """History rows newer than a cursor, for the live feed (all organisations)."""
    return await db.fetch(
        TransitionHistory.select(TransitionHistory.id, TransitionHistory.organisation, TransitionHistory.instance)
        .where(TransitionHistory.id > after_history_id).order_by(TransitionHistory.id).limit(limit)
    )


async def latest_history_id(db: Database) -> int:
    row = await db.fetch_one(TransitionHistory.select(TransitionHistory.id).order_by(TransitionHistory.id, ascending=False).limit(1))
    return row["id"] if row else 0


async def latest_instance_of(db: Database, account_id: int) -> dict | None:
    """A person's newest flow instance (an account may have been invited more than once)."""
    return await db.fetch_one(
        FlowInstance.select(FlowInstance.id, FlowInstance.state)
        .where(FlowInstance.account == account_id)
        .order_by(FlowInstance.id, ascending=False)
        .limit(1)
    )
