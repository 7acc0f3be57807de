"""Queries about people (accounts) of an organisation."""

from __future__ import annotations

from datetime import datetime

from piccolo.columns.combination import WhereRaw

from db.engine import Database, Step
from db.tables import Account, FlowInstance


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


def insert_step(organisation_id: int, role: str, salutation: str, first_name: str, last_name: str, email: str, now: datetime) -> Step:
    return Step(
        Account.insert(
            Account(
                organisation=organisation_id, role=role, salutation=salutation, first_name=first_name,
                last_name=last_name, email=email, created_at=now,
            )
        ).returning(Account.id),
        expect_rows=1,
    )

