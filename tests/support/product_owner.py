"""A product owner (operator staff) and an organisation admin, both logged in, for the flow studio."""

from __future__ import annotations

from db.accounts import PRODUCT_OWNER_ROLE
from db.name_order import name_key
from db.tables import Account, Organisation
from tests.support.admin import AdminBrowser, login_session


async def operator_account(db, first_name="Paula", last_name="Produkt", email="p.produkt@betreiber.example") -> tuple[int, int]:
    rows = await db.write([Organisation.insert(Organisation(name="Betreiber", kind="operator")).returning(Organisation.id)])
    organisation_id = rows[0][0]["id"]
    rows = await db.write([
        Account.insert(Account(organisation=organisation_id, role=PRODUCT_OWNER_ROLE, first_name=first_name,
                               last_name=last_name, email=email, name_key=name_key(first_name, last_name))).returning(Account.id)
    ])
    return rows[0][0]["id"], organisation_id


class StudioBrowser(AdminBrowser):
    """Like AdminBrowser, but its CSRF token comes from the studio's start page."""

    async def csrf(self) -> str:
        import re

        if self._csrf is None:
            page = await self.get("/ablaeufe/")
            self._csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
        return self._csrf


async def product_owner(client, db, clock) -> StudioBrowser:
    account_id, organisation_id = await operator_account(db)
    return StudioBrowser(client, await login_session(db, clock, account_id, organisation_id))
