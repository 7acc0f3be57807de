"""Run the app in the test's own event loop (see STACK.md: TestClient uses another loop)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx

from core.crypto import fast_pin_hasher
from partnerportal.app import create_app


@asynccontextmanager
async def running_app(settings, clock=None, pin_hasher=None, base_url="http://test", client=("192.0.2.10", 4711)):
    """`client`: the peer address the app sees (a documentation address by default, not loopback)."""
    app = create_app(settings, clock, pin_hasher=pin_hasher or fast_pin_hasher())
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield app, client
