"""An admin of one organisation, driving the Nutzerverwaltung over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from db import sessions
from web.auth import SESSION_COOKIE


async def login_session(db, clock, account_id: int, organisation_id: int, kind: str = "login", consent: bool = True) -> str:
    """A session as the two-factor login creates it (tests may shortcut the login),
    by default of a person who has accepted the current documents."""
    if consent:
        await give_consent(db, clock, account_id, organisation_id)
    return await sessions.create(db, kind, account_id, organisation_id, clock.now(), timedelta(hours=12))


async def give_consent(db, clock, account_id: int, organisation_id: int) -> None:
    from db import consent as consent_records
    from web.documents import required_documents

    await db.write([
        consent_records.record_step(account_id, organisation_id, d.key, d.version, d.sha256, "given", clock.now())
        for d in required_documents()
    ])


class AdminBrowser:
    def __init__(self, client: httpx.AsyncClient, token: str):
        self.client = client
        client.cookies.set(SESSION_COOKIE, token)
        self._csrf: str | None = None

    async def get(self, url: str, **kwargs) -> httpx.Response:
        return await self.client.get(url, **kwargs)

    async def csrf(self) -> str:
        if self._csrf is None:
            page = await self.get("/nutzerverwaltung/")
            self._csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
        return self._csrf

    async def post(self, url: str, data=None, htmx: bool = False, **kwargs) -> httpx.Response:
        headers = {"X-CSRFToken": await self.csrf(), **kwargs.pop("headers", {})}
        if htmx:
            headers["HX-Request"] = "true"
        return await self.client.post(url, data=data or {}, headers=headers, **kwargs)

    async def invite(self, salutation="Frau", first_name="Anna", last_name="Müller", email="a.mueller@example.org", htmx=False, **extra):
        data = {"salutation": salutation, "first_name": first_name, "last_name": last_name, "email": email, **extra}
        return await self.post("/nutzerverwaltung/", data=data, htmx=htmx)

    async def event(self, instance_id: int, event: str, confirmed: bool = True, htmx: bool = False) -> httpx.Response:
        data = {"confirmed": "1"} if confirmed else {}
        return await self.post(f"/nutzerverwaltung/{instance_id}/{event}", data=data, htmx=htmx)
