"""Registered two-factor apps."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from piccolo.columns.combination import WhereRaw

from db.engine import Database, Sql, Step
from db.tables import Account, Device, FlowInstance


@dataclass(frozen=True)
class DeviceInfo:
    id: int
    public_id: str
    account_id: int
    organisation_id: int
    public_key: str
    pin_hash: str
    pin_failures: int
    locked: bool
    revoked: bool


def new_public_id() -> str:
    return secrets.token_urlsafe(16)


def insert_step(public_id: str, account_id: int, organisation_id: int, public_key: str, pin_hash: str, now: datetime) -> Step:
    return Step(
        Device.insert(
            Device(
                public_id=public_id, account=account_id, organisation=organisation_id, public_key=public_key,
                pin_hash=pin_hash, pin_failures=0, created_at=now,
            )
        )
    )


def revoke_others_step(account_id: int, now: datetime) -> Step:
    """One device per person: binding a new one retires the old."""
    return Step(Device.update({Device.revoked_at: now}).where((Device.account == account_id) & Device.revoked_at.is_null()))


async def by_public_id(db: Database, public_id: object) -> DeviceInfo | None:
    if not isinstance(public_id, str) or not 10 <= len(public_id) <= 64:
        return None
    row = await db.fetch_one(Device.select().where(Device.public_id == public_id))
    if row is None:
        return None
    return DeviceInfo(
        id=row["id"], public_id=row["public_id"], account_id=row["account"], organisation_id=row["organisation"],
        public_key=row["public_key"], pin_hash=row["pin_hash"], pin_failures=row["pin_failures"],
        locked=row["locked_at"] is not None, revoked=row["revoked_at"] is not None,
    )


async def active_for_account(db: Database, account_id: int) -> dict | None:
    return await db.fetch_one(
        Device.select(Device.id, Device.public_id, Device.created_at, Device.locked_at)
        .where((Device.account == account_id) & Device.revoked_at.is_null())
        .order_by(Device.id, ascending=False)
        .limit(1)
    )


def revoke_step(device_id: int, now: datetime) -> Step:
    return Step(
        Device.update({Device.revoked_at: now}).where((Device.id == device_id) & Device.revoked_at.is_null()).returning(Device.id)
    )


async def registrations_for_username(db: Database, username: str, device_step: Collection[str]) -> list[dict]:
    """Registrations at the device step (instances in one of `device_step`, given by the
    caller from the flow's roles) of the accounts with this e-mail address."""
    return await db.fetch(
        FlowInstance.select(
            FlowInstance.id, FlowInstance.organisation, FlowInstance.account, FlowInstance.state,
            FlowInstance.account.email.as_alias("email"),  # also makes Piccolo join the account
        )
        .where(
            WhereRaw("lower(flow_instance$account.email) = {}", username.strip().lower())
            & FlowInstance.state.is_in(sorted(device_step))
        )
    )


async def login_account(db: Database, username: str, login_states: frozenset[str]) -> int | None:
    """The account this username may log in to (a usable device, registration complete
    and not locked, revoked or deleted), or None. One statement whatever the answer, so
    known and unknown usernames cost the same (PIN-6)."""
    states = sorted(login_states)
    rows = await db.fetch(Sql(
        Account,
        "SELECT a.id FROM account a WHERE lower(a.email) = {} "
        "AND EXISTS (SELECT 1 FROM device d WHERE d.account = a.id AND d.revoked_at IS NULL AND d.locked_at IS NULL) "
        "AND (SELECT fi.state FROM flow_instance fi WHERE fi.account = a.id ORDER BY fi.id DESC LIMIT 1) "
        f"IN ({', '.join('{}' for _ in states)}) ORDER BY a.id LIMIT 1",
        username.strip().lower(), *states,
    ))
    return rows[0]["id"] if rows else None
