"""Test actions, not data dumps: `await factory.invite(org)`."""

from __future__ import annotations

import itertools

from db.engine import Database
from db.instances import InstanceRecord
from db.name_order import name_key
from db.tables import Account, Organisation
from workflows.service import FlowService

_counter = itertools.count(1)


class Factory:
    def __init__(self, db: Database, service: FlowService):
        self.db = db
        self.service = service

    async def organisation(self, name: str | None = None) -> int:
        name = name or f"Pflegedienst {next(_counter)}"
        rows = await self.db.write([Organisation.insert(Organisation(name=name)).returning(Organisation.id)])
        return rows[0][0]["id"]

    async def account(self, organisation_id: int, email: str | None = None, role: str = "staff") -> int:
        email = email or f"person{next(_counter)}@example.org"
        rows = await self.db.write(
            [
                Account.insert(
                    Account(organisation=organisation_id, email=email, role=role, first_name="Bernhard", last_name="Tester",
                            name_key=name_key("Bernhard", "Tester"))
                ).returning(Account.id)
            ]
        )
        return rows[0][0]["id"]

    async def invite(self, organisation_id: int | None = None, email: str | None = None) -> InstanceRecord:
        organisation_id = organisation_id or await self.organisation()
        email = email or f"invitee{next(_counter)}@example.org"
        account_id = await self.account(organisation_id, email)
        record, _ = await self.service.start(
            "onboarding", organisation_id, account_id, actor="admin@test", recipient=email
        )
        return record
