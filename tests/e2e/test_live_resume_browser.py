"""The Nutzerverwaltung in Chromium across a server restart (issue 10, section 2): the
browser's EventSource reconnects by itself (the server's `retry:`), sends the last event
id, and the table shows what changed while the server was down, without a reload.
Run alone: python -m pytest tests/e2e/test_live_resume_browser.py"""

from __future__ import annotations

import re

from playwright.async_api import expect

from core.crypto import fast_pin_hasher
from tests.support.admin import login_session
from tests.support.browser import admin_context, chromium, require_chromium
from tests.support.server import HOST, ServerThread, free_port, wait_until_healthy
from web.app import create_app

RECONNECT_TIMEOUT_MS = 30_000  # generous: the browser comes back 2 s after the server


async def test_the_table_catches_up_after_a_server_restart(db, settings, clock, factory, service):
    require_chromium()
    organisation_id = await factory.organisation()
    admin = await factory.account(organisation_id, role="admin")
    token = await login_session(db, clock, admin, organisation_id)
    person = await factory.invite(organisation_id)
    flow = service.registry.current("onboarding").definition
    before = person.state
    event = next(t for t in flow.transitions if t.trigger == "admin" and before in t.sources and t.target != before)
    port = free_port()
    base_url = f"http://{HOST}:{port}"

    def start() -> ServerThread:
        server = ServerThread(create_app(settings, clock, pin_hasher=fast_pin_hasher()), port)
        server.start()
        wait_until_healthy(server, base_url, 15)
        return server

    server = start()
    try:
        async with chromium() as browser:
            context = await admin_context(browser, base_url, token)
            page = await context.new_page()
            # An error of the stream also starts the page's fallback (polling the table every
            # 5 s); block those polls, so only the resumed stream can bring the change.
            await page.route(lambda url: "/nutzerverwaltung?" in url, lambda route: route.abort())
            await page.goto("/nutzerverwaltung/")
            badge = page.locator(f"#person-{person.id} .badge").first
            await expect(badge).to_have_text(flow.states[before].label)
            # The stream told the page where it stands (its first event).
            await expect(page.locator("html")).to_have_attribute("data-live-event-id", re.compile(r"^\d+$"))
            await page.evaluate("window.__notReloaded = true")

            server.stop()  # the stream breaks; the browser keeps trying
            await service.send(person.id, event.event, actor="admin@test")
            server = start()

            await expect(badge).to_have_text(flow.states[event.target].label, timeout=RECONNECT_TIMEOUT_MS)
            assert await page.evaluate("window.__notReloaded === true"), "the page was reloaded"
            await context.close()
    finally:
        server.stop()
