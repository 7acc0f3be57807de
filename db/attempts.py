"""Attempt limits that hold under concurrency (PIN-4): an attempt is *reserved* by an
atomic conditional UPDATE before the secret is checked, so 50 parallel guesses
against a limit of 5 evaluate at most 5, in any number of processes."""

from __future__ import annotations

from datetime import datetime


from db.engine import Database, Step
from db.tables import ActivationCode, AttemptCounter, Device


async def reserve_counter(db: Database, scope: str, limit: int, now: datetime) -> bool:
    """Take one attempt from a named counter; False when it is used up."""
    await db.write([AttemptCounter.insert(AttemptCounter(scope=scope, count=0, updated_at=now)).on_conflict(action="DO NOTHING")])
    rows = await db.write(
        [
            Step(
                AttemptCounter.update({AttemptCounter.count: AttemptCounter.count + 1, AttemptCounter.updated_at: now})
                .where((AttemptCounter.scope == scope) & (AttemptCounter.count < limit))
                .returning(AttemptCounter.count)
            )
        ]
    )
    return bool(rows[0])


async def counter_value(db: Database, scope: str) -> int:
    row = await db.fetch_one(AttemptCounter.select(AttemptCounter.count).where(AttemptCounter.scope == scope))
    return row["count"] if row else 0


def reset_counter_step(scope: str, now: datetime) -> Step:
    return Step(AttemptCounter.update({AttemptCounter.count: 0, AttemptCounter.updated_at: now}).where(AttemptCounter.scope == scope))


async def reserve_code_attempt(db: Database, code_id: int, limit: int) -> int | None:
    """Take one try of an activation code; returns the tries taken so far (this one
    included), or None when the code is used up or ended."""
    rows = await db.write(
        [
            Step(
                ActivationCode.update({ActivationCode.attempts: ActivationCode.attempts + 1})
                .where((ActivationCode.id == code_id) & (ActivationCode.attempts < limit) & ActivationCode.ended_at.is_null())
                .returning(ActivationCode.attempts)
            )
        ]
    )
    return rows[0][0]["attempts"] if rows[0] else None


def release_code_attempt_steps(code_id: int, scope: str, now: datetime) -> list[Step]:
    """Give back the tries a right code took when it was only checked (the app checks the
    code before the PIN is chosen; the activation itself then takes its own try)."""
    return [
        Step(ActivationCode.update({ActivationCode.attempts: ActivationCode.attempts - 1})
             .where((ActivationCode.id == code_id) & (ActivationCode.attempts > 0))),
        Step(AttemptCounter.update({AttemptCounter.count: AttemptCounter.count - 1, AttemptCounter.updated_at: now})
             .where((AttemptCounter.scope == scope) & (AttemptCounter.count > 0))),
    ]


async def reserve_pin_attempt(db: Database, device_id: int, limit: int) -> int | None:
    """Reserve one PIN check; returns the failures so far (before this one) or None if locked."""
    rows = await db.write(
        [
            Step(
                Device.update({Device.pin_failures: Device.pin_failures + 1})
                .where(
                    (Device.id == device_id) & (Device.pin_failures < limit)
                    & Device.locked_at.is_null() & Device.revoked_at.is_null()
                )
                .returning(Device.pin_failures)
            )
        ]
    )
    return rows[0][0]["pin_failures"] - 1 if rows[0] else None


def pin_success_step(device_id: int) -> Step:
    """A right PIN gives back the reserved attempt and clears earlier failures."""
    return Step(Device.update({Device.pin_failures: 0}).where(Device.id == device_id))


def lock_device_if_exhausted_step(device_id: int, limit: int, now: datetime) -> Step:
    return Step(
        Device.update({Device.locked_at: now})
        .where((Device.id == device_id) & (Device.pin_failures >= limit) & Device.locked_at.is_null())
        .returning(Device.id)
    )


