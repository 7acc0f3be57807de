"""Activation codes for binding a device (ACT-1): 8 digits, hashed, minutes, one use."""

from __future__ import annotations

from datetime import datetime, timedelta

from db.engine import Database, Step
from db.tables import ActivationCode
from core.crypto import code_hash, new_activation_code


def end_open_codes_step(instance_id: int, now: datetime) -> Step:
    return Step(
        ActivationCode.update({ActivationCode.ended_at: now}).where(
            (ActivationCode.instance == instance_id) & ActivationCode.ended_at.is_null()
        )
    )


def issue_steps(instance_id: int, now: datetime, valid_for: timedelta, key: str) -> tuple[str, list[Step]]:
    """A new code, stored as its HMAC with `key`; every older code of the registration stops working."""
    code = new_activation_code()
    return code, [
        end_open_codes_step(instance_id, now),
        Step(
            ActivationCode.insert(
                ActivationCode(
                    instance=instance_id, code_hash=code_hash(key, instance_id, code), attempts=0,
                    created_at=now, expires_at=now + valid_for,
                )
            )
        ),
    ]


async def open_code(db: Database, instance_id: int, now: datetime) -> dict | None:
    row = await db.fetch_one(
        ActivationCode.select(ActivationCode.id, ActivationCode.code_hash, ActivationCode.expires_at, ActivationCode.attempts)
        .where((ActivationCode.instance == instance_id) & ActivationCode.ended_at.is_null())
        .order_by(ActivationCode.id, ascending=False)
        .limit(1)
    )
    if row is None or row["expires_at"] <= now:
        return None
    return row


def use_code_step(code_id: int, now: datetime) -> Step:
    """One use: only the first of two racing successes can end the code."""
    return Step(
        ActivationCode.update({ActivationCode.ended_at: now})
        .where((ActivationCode.id == code_id) & ActivationCode.ended_at.is_null())
        .returning(ActivationCode.id),
        expect_rows=1,
    )


async def latest_code_state(db: Database, instance_id: int, now: datetime, attempt_limit: int) -> str | None:
    """What became of the registration's newest code: "open", "used_up" (too many wrong
    tries), "timed_out", "ended" (used, or replaced), or None when none was shown yet."""
    row = await db.fetch_one(
        ActivationCode.select(ActivationCode.expires_at, ActivationCode.attempts, ActivationCode.ended_at)
        .where(ActivationCode.instance == instance_id)
        .order_by(ActivationCode.id, ascending=False)
        .limit(1)
    )
    if row is None:
        return None
    if row["ended_at"] is not None:
        return "ended"
    if row["attempts"] >= attempt_limit:
        return "used_up"
    if row["expires_at"] <= now:
        return "timed_out"
    return "open"
