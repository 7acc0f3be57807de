"""Nonces of the app's signed requests: a signature proves origin, not single use, so
each nonce is remembered for as long as its request's timestamp is accepted."""

from __future__ import annotations

from datetime import datetime

from db.engine import Database, Sql, Step
from db.tables import AppRequestNonce


async def remember(db: Database, device_public_id: str, nonce: str, expires_at: datetime, now: datetime) -> bool:
    """True the first time a device uses the nonce; False for a replay. The unique key
    decides, in one statement, in any number of processes. Expired nonces go in passing."""
    rows = await db.write([
        Step(Sql(AppRequestNonce, "DELETE FROM app_request_nonce WHERE expires_at <= {}", now)),
        Step(Sql(
            AppRequestNonce,
            'INSERT INTO app_request_nonce ("key", expires_at) VALUES ({}, {}) ON CONFLICT ("key") DO NOTHING RETURNING id',
            f"{device_public_id}:{nonce}", expires_at,
        )),
    ])
    return bool(rows[1])
