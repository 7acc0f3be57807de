"""Queries on the mail outbox that the web app needs; sending is jobs/outbox.py."""

from __future__ import annotations

from datetime import datetime

from db.engine import Database
from db.tables import Outbox


async def retry_failed(db: Database, outbox_id: int, organisation_id: int, now: datetime) -> bool:
    """The admin's "erneut senden": a failed mail of their own organisation goes out again."""
    rows = await db.write([
        Outbox.update({
            Outbox.status: "pending", Outbox.attempts: 0, Outbox.next_attempt_at: now, Outbox.last_error: "",
        })
        .where((Outbox.id == outbox_id) & (Outbox.organisation == organisation_id) & (Outbox.status == "failed"))
        .returning(Outbox.id)
    ])
    return bool(rows[0])


async def mail_of(db: Database, outbox_id: int, organisation_id: int, instance_id: int) -> bool:
    """Whether the outbox row is this organisation's mail of this instance."""
    row = await db.fetch_one(
        Outbox.select(Outbox.id).where(
            (Outbox.id == outbox_id) & (Outbox.organisation == organisation_id) & (Outbox.instance == instance_id)
        )
    )
    return row is not None
