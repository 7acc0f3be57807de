"""Login challenges: approved in the app, finished by the browser that started them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from db.engine import Database, Sql, Step
from db.tables import LoginChallenge


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_browser_token() -> str:
    return secrets.token_urlsafe(32)


def insert_step(
    public_id: str, account_id: int | None, browser_token: str, number: str, now: datetime, valid_for: timedelta,
    client_ip: str, browser: str, requester_key: str,
) -> Step:
    return Step(
        LoginChallenge.insert(
            LoginChallenge(
                public_id=public_id, account=account_id, browser_token_hash=token_hash(browser_token),
                number=number, nonce=secrets.token_urlsafe(24), status="pending", created_at=now,
                expires_at=now + valid_for, client_ip=client_ip, browser=browser,
                requester_key=requester_key,
            )
        )
    )


def numbers_in_use_step(requester_key: str, now: datetime) -> Step:
    """The numbers of the key's requests that a browser may still be showing."""
    return Step(Sql(
        LoginChallenge, "SELECT number FROM login_challenge WHERE requester_key = {} AND expires_at > {}", requester_key, now
    ))


def supersede_step(requester_key: str, now: datetime, keep: int) -> Step:
    """Ends the key's oldest waiting requests beyond the newest `keep`."""
    return Step(Sql(
        LoginChallenge,
        "UPDATE login_challenge SET status = 'superseded' "
        "WHERE requester_key = {} AND status = 'pending' AND expires_at > {} AND id NOT IN "
        "(SELECT id FROM login_challenge WHERE requester_key = {} AND status = 'pending' AND expires_at > {} "
        "ORDER BY id DESC LIMIT {})",
        requester_key, now, requester_key, now, keep,
    ))


def end_pending_step(account_id: int, now: datetime, status: str) -> Step:
    return Step(
        LoginChallenge.update({LoginChallenge.status: status})
        .where((LoginChallenge.account == account_id) & (LoginChallenge.status == "pending") & (LoginChallenge.expires_at > now))
    )


async def by_public_id(db: Database, public_id: object) -> dict | None:
    if not isinstance(public_id, str) or len(public_id) > 64:
        return None
    return await db.fetch_one(LoginChallenge.select().where(LoginChallenge.public_id == public_id))


async def pending_for_account(db: Database, account_id: int, now: datetime) -> list[dict]:
    """Newest first: a flood is visible as such and never buries the person's own request."""
    return await db.fetch(
        LoginChallenge.select(LoginChallenge.public_id, LoginChallenge.nonce, LoginChallenge.created_at,
                              LoginChallenge.expires_at, LoginChallenge.client_ip, LoginChallenge.browser)
        .where((LoginChallenge.account == account_id) & (LoginChallenge.status == "pending") & (LoginChallenge.expires_at > now))
        .order_by(LoginChallenge.id, ascending=False)
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
