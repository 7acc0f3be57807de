"""Server-side sessions: the cookie carries a random token, the database its hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from collections.abc import Sequence

from db import consent
from db.engine import Database, Sql, Step
from db.tables import WebSession

# Writing last_seen_at on every request would turn each page view into a write;
# once a minute keeps the idle timeout accurate to a minute.
TOUCH_AFTER = timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionInfo:
    id: int
    kind: str
    account_id: int
    organisation_id: int
    instance_id: int | None
    role: str
    first_name: str
    last_name: str
    email: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    accepted_documents: str = ""  # the stamp of the documents accepted (db/consent.py stamp())
    language: str = "de"  # the person's profile language

    @property
    def is_admin(self) -> bool:
        return self.kind == "login" and self.role == "admin"

    @property
    def is_product_owner(self) -> bool:
        return self.kind == "login" and self.role == "product_owner"


async def create(
    db: Database, kind: str, account_id: int, organisation_id: int, now: datetime, absolute: timedelta,
    instance_id: int | None = None, end_token: str | None = None, required: Sequence | None = None,
    not_after: datetime | None = None,
) -> str:
    """A new session (and its fresh token); ends the session of `end_token`, if given.
    With `required` (the documents everyone must accept) it is stamped with them if its
    person has accepted them, from the consent records, in the same transaction.
    `not_after` caps its absolute end (a registration session ends with its link, INV-2)."""
    token = secrets.token_urlsafe(32)
    steps = []
    if end_token:
        steps.append(end_step(end_token, now))
    steps.append(
        Step(
            WebSession.insert(
                WebSession(
                    token_hash=token_hash(token), kind=kind, account=account_id, organisation=organisation_id,
                    instance=instance_id, created_at=now, last_seen_at=now,
                    expires_at=min(now + absolute, not_after) if not_after else now + absolute,
                )
            )
        )
    )
    if required is not None:
        steps += consent.lock_steps(db, account_id)
        steps.append(consent.stamp_sessions_step(account_id, required, token_hash=token_hash(token)))
    await db.write(steps)
    return token


def end_step(token: str, now: datetime) -> Step:
    return Step(
        WebSession.update({WebSession.ended_at: now}).where(
            (WebSession.token_hash == token_hash(token)) & WebSession.ended_at.is_null()
        )
    )


# One statement per request for who is asking: the session, its person and the consent
# stamp (hand-written: Piccolo's builder cost ~0.3 ms for this join).
_LOAD_SQL = (
    'SELECT s.id, s.kind, s.account, s.organisation, s.instance, s.created_at, s.last_seen_at, s.expires_at, '
    's.accepted_documents, a.role, a.first_name, a.last_name, a.email, a.language '
    'FROM web_session s JOIN account a ON a.id = s.account WHERE s.token_hash = {} AND s.ended_at IS NULL'
)


async def load(db: Database, token: str, now: datetime, idle: timedelta) -> SessionInfo | None:
    """The live session for a token, or None if unknown, ended, idle too long or too old."""
    row = await db.fetch_one(Sql(WebSession, _LOAD_SQL, token_hash(token)))
    if row is None or row["expires_at"] <= now or row["last_seen_at"] + idle <= now:
        return None
    if now - row["last_seen_at"] >= TOUCH_AFTER:
        await db.write([touch_step(row["id"], now)])
        row["last_seen_at"] = now
    return SessionInfo(
        id=row["id"], kind=row["kind"], account_id=row["account"], organisation_id=row["organisation"],
        instance_id=row["instance"], role=row["role"], first_name=row["first_name"], last_name=row["last_name"],
        email=row["email"], created_at=row["created_at"], last_seen_at=row["last_seen_at"], expires_at=row["expires_at"],
        accepted_documents=row["accepted_documents"], language=row["language"],
    )


async def restamp(db: Database, session_id: int, account_id: int, required: Sequence) -> str:
    """The session's consent stamp computed again from the records (and stored): for a
    session whose stamp does not match, e.g. one from before stamps existed."""
    results = await db.write([
        *consent.lock_steps(db, account_id), consent.stamp_sessions_step(account_id, required, session_id=session_id),
    ])
    return results[-1][0]["accepted_documents"] if results[-1] else ""


async def live_among(db: Database, session_ids: list[int], now: datetime, idle: timedelta) -> set[int]:
    """Which of these sessions are still live, by the same rules as `load`; reads only, so a
    long-lived response that asks does not keep its session from going idle."""
    if not session_ids:
        return set()
    rows = await db.fetch(
        WebSession.select(WebSession.id).where(
            WebSession.id.is_in(list(session_ids)) & WebSession.ended_at.is_null()
            & (WebSession.expires_at > now) & (WebSession.last_seen_at > now - idle)
        )
    )
    return {row["id"] for row in rows}


async def end_all_for_account(db: Database, account_id: int, now: datetime) -> None:
    await db.write(
        [WebSession.update({WebSession.ended_at: now}).where((WebSession.account == account_id) & WebSession.ended_at.is_null())]
    )


__all__ = ["SessionInfo", "create", "load", "restamp", "live_among", "end_step", "end_all_for_account", "token_hash"]


def touch_step(session_id: int, now: datetime) -> Step:
    return Step(WebSession.update({WebSession.last_seen_at: now}).where(WebSession.id == session_id))
