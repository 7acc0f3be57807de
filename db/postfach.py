"""The organisation's Postfach: messages, a page at a time, read state per person."""

from __future__ import annotations

from datetime import datetime

from piccolo.columns.combination import WhereRaw

from db.engine import Database, Step
from db.tables import MessageRead, PostfachMessage, id_from

PAGE_SIZE = 20


async def page(db: Database, organisation_id: int, account_id: int, search: str = "", cursor: str = "",
               page_size: int = PAGE_SIZE) -> tuple[list[dict], str | None]:
    where = PostfachMessage.organisation == organisation_id
    term = search.strip().lower()
    if "\x00" in term:  # no text holds a NUL (PostgreSQL refuses one): nothing matches
        return [], None
    if term:
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where &= WhereRaw("(lower(subject) LIKE {} ESCAPE '\\' OR lower(sender) LIKE {} ESCAPE '\\')", pattern, pattern)
    if (last_id := id_from(cursor)) is not None:
        where &= PostfachMessage.id < last_id
    rows = await db.fetch(
        PostfachMessage.select(PostfachMessage.id, PostfachMessage.sender, PostfachMessage.subject, PostfachMessage.created_at)
        .where(where).order_by(PostfachMessage.id, ascending=False).limit(page_size + 1)
    )
    more = len(rows) > page_size
    rows = rows[:page_size]
    read = await _read_ids(db, account_id, [r["id"] for r in rows])
    for row in rows:
        row["unread"] = row["id"] not in read
    return rows, (str(rows[-1]["id"]) if more and rows else None)


async def _read_ids(db: Database, account_id: int, message_ids: list[int]) -> set[int]:
    if not message_ids:
        return set()
    rows = await db.fetch(
        MessageRead.select(MessageRead.message).where(
            (MessageRead.account == account_id) & MessageRead.message.is_in(message_ids)
        )
    )
    return {r["message"] for r in rows}


async def message(db: Database, organisation_id: int, message_id: int) -> dict | None:
    """Only a message of the person's own organisation (others: None, shown as 404)."""
    return await db.fetch_one(
        PostfachMessage.select().where((PostfachMessage.id == message_id) & (PostfachMessage.organisation == organisation_id))
    )


def mark_read_step(message_id: int, account_id: int, now: datetime) -> Step:
    return Step(
        MessageRead.insert(MessageRead(message=message_id, account=account_id, read_at=now)).on_conflict(action="DO NOTHING")
    )


async def unread_count(db: Database, organisation_id: int, account_id: int) -> int:
    total = await db.fetch(PostfachMessage.select(PostfachMessage.id).where(PostfachMessage.organisation == organisation_id))
    read = await _read_ids(db, account_id, [r["id"] for r in total])
    return len(total) - len(read)


def deliver_step(organisation_id: int, sender: str, subject: str, body: str, now: datetime) -> Step:
    return Step(
        PostfachMessage.insert(
            PostfachMessage(organisation=organisation_id, sender=sender, subject=subject, body=body, created_at=now)
        ).returning(PostfachMessage.id)
    )
