"""Queries about people (accounts) of an organisation."""

from __future__ import annotations

from datetime import datetime

from piccolo.columns.combination import WhereRaw

from db.batching import insert
from db.engine import Database, Sql, Step
from db.name_order import name_key
from db.tables import Account, FlowInstance, Organisation

ADMIN_ROLE = "admin"
# Staff of the portal's operator who change the flows (flow studio); never in a provider organisation.
PRODUCT_OWNER_ROLE = "product_owner"


async def find_by_email(db: Database, organisation_id: int, email: str) -> dict | None:
    """The account with this address (case-insensitive) and its newest instance, if any."""
    account = await db.fetch_one(
        Account.select(Account.id).where(
            (Account.organisation == organisation_id) & WhereRaw("lower(email) = {}", email.lower())
        )
    )
    if account is None:
        return None
    instance = await db.fetch_one(
        FlowInstance.select(FlowInstance.id, FlowInstance.state, FlowInstance.flow_name, FlowInstance.flow_version)
        .where(FlowInstance.account == account["id"])
        .order_by(FlowInstance.id, ascending=False)
        .limit(1)
    )
    return {"account_id": account["id"], "instance": instance}


_ACCOUNT_COLUMNS = (
    "organisation", "role", "salutation", "first_name", "last_name", "email", "phone", "created_at", "language", "name_key",
)


def insert_step(
    organisation_id: int, role: str, salutation: str, first_name: str, last_name: str, email: str, now: datetime,
    language: str = "de",
) -> Step:
    """A new account, returning its id: a template (db/batching.py) rather than Piccolo's
    insert of a table object, which is built anew for every invitation."""
    row = (organisation_id, role, salutation, first_name, last_name, email, "", now, language, name_key(first_name, last_name))
    (step,) = insert(Account, _ACCOUNT_COLUMNS, [row])
    return Step(step.query, expect_rows=1)


def set_language_step(account_id: int, language: str) -> Step:
    return Step(Account.update({Account.language: language}).where(Account.id == account_id))


def _other_usable_admin(organisation_id: int, account_id: int, usable_states: frozenset[str]) -> Sql:
    """One row if the organisation has an admin besides `account_id` whose newest
    instance is in one of `usable_states` (who may log in), else none."""
    states = sorted(usable_states)
    return Sql(
        Account,
        'SELECT 1 AS "found" WHERE EXISTS (SELECT 1 FROM "account" a JOIN "flow_instance" f ON f."account" = a."id" '
        'WHERE a."organisation" = {} AND a."role" = {} AND a."id" <> {} '
        f'AND f."state" IN ({", ".join("{}" for _ in states)}) '
        'AND f."id" = (SELECT max(g."id") FROM "flow_instance" g WHERE g."account" = a."id"))',
        organisation_id, ADMIN_ROLE, account_id, *states,
    )


async def role_of(db: Database, account_id: int) -> str | None:
    row = await db.fetch_one(Account.select(Account.role).where(Account.id == account_id))
    return row["role"] if row else None


async def other_usable_admin_exists(db: Database, organisation_id: int, account_id: int, usable_states: frozenset[str]) -> bool:
    return bool(await db.fetch(_other_usable_admin(organisation_id, account_id, usable_states)))


def keep_an_admin_steps(organisation_id: int, account_id: int, usable_states: frozenset[str]) -> list[Step]:
    """Steps for the transaction that takes `account_id`'s access away: it rolls back
    (ConflictError) unless another usable admin remains. The organisation's row is locked
    first, so two admins removing each other at once are serialised on PostgreSQL (the
    second sees the first's commit); SQLite's write lock serialises them anyway."""
    return [
        Step(Sql(Organisation, 'UPDATE "organisation" SET "name" = "name" WHERE "id" = {} RETURNING "id"', organisation_id), expect_rows=1),
        Step(_other_usable_admin(organisation_id, account_id, usable_states), expect_rows=1),
    ]
