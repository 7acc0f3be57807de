"""Login challenges: approved in the app, finished by the browser that started them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from db.engine import Database, Step
from db.tables import LoginChallenge


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_challenge(account_id: int | None, now: datetime, valid_for: timedelta, client_ip: str) -> tuple[dict, str, Step]:
    """The challenge's public data, the browser's secret token, and the INSERT."""
    browser_token = secrets.token_urlsafe(32)
    data = {
        "public_id": secrets.token_urlsafe(16),
        "number": f"{secrets.randbelow(90) + 10}",
        "nonce": secrets.token_urlsafe(24),
        "expires_at": now + valid_for,
    }
    step = Step(
        LoginChallenge.insert(
            LoginChallenge(
                public_id=data["public_id"], account=account_id, browser_token_hash=token_hash(browser_token),
                number=data["number"], nonce=data["nonce"], status="pending", created_at=now,
                expires_at=data["expires_at"], client_ip=client_ip,
            )
        )
    )
    return data, browser_token, step


async def by_public_id(db: Database, public_id: object) -> dict | None:
    if not isinstance(public_id, str) or len(public_id) > 64:
        return None
    return await db.fetch_one(LoginChallenge.select().where(LoginChallenge.public_id == public_id))


async def pending_for_account(db: Database, account_id: int, now: datetime) -> list[dict]:
    return await db.fetch(
        LoginChallenge.select(LoginChallenge.public_id, LoginChallenge.number, LoginChallenge.nonce,
                              LoginChallenge.created_at, LoginChallenge.expires_at)
        .where((LoginChallenge.account == account_id) & (LoginChallenge.status == "pending") & (LoginChallenge.expires_at > now))
        .order_by(LoginChallenge.id)
    )


def answer_step(challenge_id: int, decision: str, now: datetime) -> Step:
    """pending -> approved/denied, once, before expiry."""
    return Step(
        LoginChallenge.update({LoginChallenge.status: decision})
        .where((LoginChallenge.id == challenge_id) & (LoginChallenge.status == "pending") & (LoginChallenge.expires_at > now))
        .returning(LoginChallenge.id),
        expect_rows=1,
    )


def consume_step(public_id: str, browser_token: str, now: datetime) -> Step:
    """approved -> used, only for the browser holding the token; returns the account."""
    return Step(
        LoginChallenge.update({LoginChallenge.status: "used"})
        .where(
            (LoginChallenge.public_id == public_id) & (LoginChallenge.browser_token_hash == token_hash(browser_token))
            & (LoginChallenge.status == "approved") & (LoginChallenge.expires_at > now)
        )
        .returning(LoginChallenge.account)
    )
