"""Invitation links: a random token (256 bits from `secrets`) goes into the mail;
the database keeps only its SHA-256 (INV-1). Validity is decided here, against the
database, on every use (INV-2): not ended, not past its expiry, instance still open."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from db.batching import insert
from db.engine import Database, Step
from db.tables import InvitationLink, Timer


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ValidLink:
    link_id: int
    instance_id: int
    organisation_id: int
    account_id: int
    state: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class NewLink:
    """A link to store: the token itself goes into the mail, only its hash into the row."""

    instance_id: int
    token: str
    created_at: datetime
    expires_at: datetime
    purpose: str = "invitation"


_LINK_COLUMNS = ("instance", "token_hash", "purpose", "created_at", "expires_at")


def issue_steps(new_links: list[NewLink]) -> list[Step]:
    """The links of a batch of mails in one statement (a template, not Piccolo's insert of
    a table object per link, built and compiled for every mail)."""
    rows = [(link.instance_id, token_hash(link.token), link.purpose, link.created_at, link.expires_at) for link in new_links]
    return insert(InvitationLink, _LINK_COLUMNS, rows, returning=False)


def issue_step(instance_id: int, token: str, now: datetime, expires_at: datetime, purpose: str = "invitation") -> Step:
    (step,) = issue_steps([NewLink(instance_id, token, now, expires_at, purpose)])
    return step


async def invitation_expiry(db: Database, instance_id: int, expiry_events: Collection[str]) -> datetime | None:
    """When the invitation runs out: the due time of its pending expiry timer (the caller
    names the timer's events, from the flow's timer purpose "expiry")."""
    row = await db.fetch_one(
        Timer.select(Timer.due_at)
        .where((Timer.instance == instance_id) & Timer.event.is_in(sorted(expiry_events)) & (Timer.status == "pending"))
        .order_by(Timer.due_at, ascending=False)
        .limit(1)
    )
    return row["due_at"] if row else None


async def link_expiry(
    db: Database, instance_id: int, now: datetime, validity: timedelta, expiry_events: Collection[str]
) -> datetime:
    """Until when a link sent now may be used: the invitation's expiry while it runs;
    after a device reset (no expiry running) the flow's validity from now."""
    return await invitation_expiry(db, instance_id, expiry_events) or now + validity


async def find_valid(db: Database, token: str, now: datetime, open_states: Collection[str]) -> ValidLink | None:
    """The link for a token if it may be used now; None for unknown, ended, expired
    or closed alike (callers show one neutral page for all, INV-8). `open_states`: where
    a link may be used, from the flow's state role "link_open"."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    row = await db.fetch_one(
        InvitationLink.select(
            InvitationLink.id, InvitationLink.instance, InvitationLink.expires_at,
            InvitationLink.instance.organisation.as_alias("organisation"),
            InvitationLink.instance.account.as_alias("account"),
            InvitationLink.instance.state.as_alias("state"),
        ).where((InvitationLink.token_hash == token_hash(token)) & InvitationLink.ended_at.is_null())
    )
    if row is None or row["expires_at"] <= now or row["state"] not in open_states or not row["account"]:
        return None
    return ValidLink(
        link_id=row["id"], instance_id=row["instance"], organisation_id=row["organisation"],
        account_id=row["account"], state=row["state"], expires_at=row["expires_at"],
    )


__all__ = ["NewLink", "ValidLink", "find_valid", "issue_step", "issue_steps", "invitation_expiry", "new_token", "token_hash"]
