"""Server-side sessions: the cookie carries a random token, the database its hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from db.engine import Database, Step
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

    @property
    def is_admin(self) -> bool:
        return self.kind == "login" and self.role == "admin"

    @property
    def is_product_owner(self) -> bool:
        return self.kind == "login" and self.role == "product_owner"


async def create(
    db: Database, kind: str, account_id: int, organisation_id: int, now: datetime, absolute: timedelta,
    instance_id: int | None = None, end_token: str | None = None,
) -> str:
    """A new session (and its fresh token); ends the session of `end_token`, if given."""
    token = secrets.token_urlsafe(32)
    steps = []
    if end_token:
        steps.append(end_step(end_token, now))
    steps.append(
        Step(
            WebSession.insert(
                WebSession(
                    token_hash=token_hash(token), kind=kind, account=account_id, organisation=organisation_id,
                    instance=instance_id, created_at=now, last_seen_at=now, expires_at=now + absolute,
                )
            )
        )
    )
    await db.write(steps)
    return token


def end_step(token: str, now: datetime) -> Step:
    return Step(
        WebSession.update({WebSession.ended_at: now}).where(
            (WebSession.token_hash == token_hash(token)) & WebSession.ended_at.is_null()
        )
    )


async def load(db: Database, token: str, now: datetime, idle: timedelta) -> SessionInfo | None:
    """The live session for a token, or None if unknown, ended, idle too long or too old."""
    row = await db.fetch_one(
        WebSession.select(
            WebSession.id, WebSession.kind, WebSession.account, WebSession.organisation, WebSession.instance,
            WebSession.created_at, WebSession.last_seen_at, WebSession.expires_at,
            WebSession.account.role.as_alias("role"),
            WebSession.account.first_name.as_alias("first_name"),
            WebSession.account.last_name.as_alias("last_name"),
            WebSession.account.email.as_alias("email"),
        ).where((WebSession.token_hash == token_hash(token)) & WebSession.ended_at.is_null())
    )
    if row is None or row["expires_at"] <= now or row["last_seen_at"] + idle <= now:
        return None
    if now - row["last_seen_at"] >= TOUCH_AFTER:
        await db.write([WebSession.update({WebSession.last_seen_at: now}).where(WebSession.id == row["id"])])
        row["last_seen_at"] = now
    return SessionInfo(
        id=row["id"], kind=row["kind"], account_id=row["account"], organisation_id=row["organisation"],
        instance_id=row["instance"], role=row["role"], first_name=row["first_name"], last_name=row["last_name"],
        email=row["email"], created_at=row["created_at"], last_seen_at=row["last_seen_at"], expires_at=row["expires_at"],
    )


async def end_all_for_account(db: Database, account_id: int, now: datetime) -> None:
    await db.write(
        [WebSession.update({WebSession.ended_at: now}).where((WebSession.account == account_id) & WebSession.ended_at.is_null())]
    )


__all__ = ["SessionInfo", "create", "load", "end_step", "end_all_for_account", "token_hash"]


def touch_step(session_id: int, now: datetime) -> Step:
    return Step(WebSession.update({WebSession.last_seen_at: now}).where(WebSession.id == session_id))
