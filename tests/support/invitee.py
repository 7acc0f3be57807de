"""An invited person walking the registration over HTTP, as a browser would."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from db import links
from core.signing import Signer
from tests.support import roles


def csrf_of(html: str) -> str | None:
    """The page's CSRF token: its real hidden form field (an escaped one would not
    match), else the one every page carries for htmx."""
    field = re.search(r'<input type="hidden" name="_csrf_token" value="([^"]+)"', html)
    if field:
        return field.group(1)
    header = re.search(r'"X-CSRFToken": "([^"]+)"', html)
    return header.group(1) if header else None


class Invitee:
    def __init__(self, client: httpx.AsyncClient, db, clock, secret_key: str):
        self.client = client
        self.db = db
        self.clock = clock
        self.signer = Signer(secret_key)
        self.csrf = ""
        self.link = ""

    async def issue_link(self, instance_id: int) -> str:
        """A link as the invitation mail carries it; returns the path."""
        token = links.new_token()
        expires = await links.link_expiry(self.db, instance_id, self.clock.now(), timedelta(hours=720), roles.expiry_events())
        await self.db.write([links.issue_step(instance_id, token, self.clock.now(), expires)])
        return f"/einladung/{self.signer.sign('invitation-link', token)}"

    async def get(self, path: str, **kwargs) -> httpx.Response:
        response = await self.client.get(path, **kwargs)
        # A form field rendered as text would break every form without JavaScript.
        assert "&lt;input" not in response.text, f"escaped form field on {path}"
        self.csrf = csrf_of(response.text) or self.csrf
        return response

    async def post(self, path: str, data=None, **kwargs) -> httpx.Response:
        """Posts like a browser without JavaScript: the CSRF token is a form field."""
        if not self.csrf:
            await self.get("/")
        return await self.client.post(path, data={**(data or {}), "_csrf_token": self.csrf}, **kwargs)

    async def redeem(self, link_path: str) -> httpx.Response:
        await self.get(link_path)
        return await self.post(link_path)

    async def complete_profile(self, **values) -> httpx.Response:
        data = {"salutation": "Herr", "first_name": "Bernhard", "last_name": "Tester", "phone": "", **values}
        return await self.post("/registrierung/daten", data=data)

    async def show_code(self) -> str:
        page = await self.post("/registrierung/aktivierung")
        match = re.search(r'id="activation-code" class="code">(\d{4} \d{4})<', page.text)
        assert match, page.text
        return match.group(1)

    async def register(self, instance_id: int) -> str:
        """Link, personal data, code: ready for the app. Returns the grouped code."""
        self.link = await self.issue_link(instance_id)
        await self.redeem(self.link)
        await self.complete_profile()
        return await self.show_code()

    async def accept_consent(self) -> httpx.Response:
        await self.get("/einwilligung")
        return await self.post("/einwilligung", data={"accept_privacy": "ja", "accept_terms": "ja"})
