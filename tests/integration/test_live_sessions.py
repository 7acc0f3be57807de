"""The live stream of the Nutzerverwaltung ends with its session (SES-9): it checks the
session before every event and at every keep-alive, over real HTTP (uvicorn), and
closes after logout, "Überall abmelden", idle and absolute timeout, lock, device reset
and "Gerät verloren". Tests wait for what the stream says, never for time to pass."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest

from db import sessions
from db.tables import Account, WebSession
from tests.support.admin import AdminBrowser, give_consent, login_session
from tests.support.server import running_server

LIVE = "/nutzerverwaltung/live"
# A safety net against a hanging test, not a measurement: every wait ends on a signal.
DEADLINE_SECONDS = 20


class LiveStream:
    """An open SSE response, read line by line in the background."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self.received: list[str] = []
        self.closed = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def open(self) -> "LiveStream":
        opened = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._read(opened))
        status = await asyncio.wait_for(opened, DEADLINE_SECONDS)
        assert status == 200
        await self.wait_for_line(lambda line: line == "event: ready")
        return self

    async def _read(self, opened: asyncio.Future) -> None:
        try:
            async with self.client.stream("GET", LIVE, headers={"accept": "text/event-stream"}) as response:
                opened.set_result(response.status_code)
                async for line in response.aiter_lines():
                    self.received.append(line)
                    await self.lines.put(line)
        finally:
            if not opened.done():
                opened.set_result(None)
            self.closed.set()

    async def wait_for_line(self, predicate: Callable[[str], bool]) -> str:
        async with asyncio.timeout(DEADLINE_SECONDS):
            while True:
                line = await self.lines.get()
                if predicate(line):
                    return line

    async def wait_closed(self) -> None:
        await asyncio.wait_for(self.closed.wait(), DEADLINE_SECONDS)
        await self._task  # a failure while reading shows here

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@contextlib.asynccontextmanager
async def served(settings, clock, keepalive: float):
    with running_server(settings, clock, live_keepalive_seconds=keepalive) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=DEADLINE_SECONDS) as client:
            yield base_url, client


async def active_admin(factory, service, db, clock, absolute=timedelta(hours=12)):
    """An admin whose own registration is complete ("Aktiv"), so lock and device reset apply."""
    org = await factory.organisation()
    record = await factory.invite(org)
    await db.write([Account.update({Account.role: "admin"}).where(Account.id == record.account_id)])
    await service.send(record.id, "complete_profile", data={"first_name": "Ada", "last_name": "Admin"})
    for event in ("activate_device", "consent"):  # the flow's automatic step follows consent
        await service.send(record.id, event)
    await give_consent(db, clock, record.account_id, org)
    token = await sessions.create(db, "login", record.account_id, org, clock.now(), absolute)
    return record, token


async def end_by_logout(ctx) -> None:
    response = await ctx.browser.post("/abmelden")
    assert response.status_code == 303


async def end_by_logout_everywhere(ctx) -> None:
    """From another browser of the same person: the watching session ends too."""
    other_token = await sessions.create(
        ctx.db, "login", ctx.record.account_id, ctx.record.organisation_id, ctx.clock.now(), timedelta(hours=12)
    )
    async with httpx.AsyncClient(base_url=ctx.base_url) as other_client:
        other = AdminBrowser(other_client, other_token)
        assert (await other.post("/profil/ueberall-abmelden")).status_code == 303


async def end_by_idle_timeout(ctx) -> None:
    ctx.clock.advance(minutes=31)


async def end_by_absolute_timeout(ctx) -> None:
    ctx.clock.advance(minutes=21)  # past the session's absolute end (20 min here), not idle yet


async def end_by_lock(ctx) -> None:
    await ctx.service.send(ctx.record.id, "lock", actor="account:other-admin")


async def end_by_device_reset(ctx) -> None:
    await ctx.service.send(ctx.record.id, "revoke_device", actor="account:other-admin")


async def end_by_lost_device(ctx) -> None:
    await ctx.service.send(ctx.record.id, "lose_device")


class Context:
    def __init__(self, **values):
        self.__dict__.update(values)


ENDS: dict[str, Callable[[Context], Awaitable[None]]] = {
    "logout": end_by_logout,
    "logout-everywhere": end_by_logout_everywhere,
    "idle-timeout": end_by_idle_timeout,
    "absolute-timeout": end_by_absolute_timeout,
    "lock": end_by_lock,
    "device-reset": end_by_device_reset,
    "lost-device": end_by_lost_device,
}


@pytest.mark.parametrize("end", list(ENDS), ids=list(ENDS))
async def test_the_live_stream_closes_when_its_session_ends_ses_9(settings, factory, service, db, clock, end):
    """SES-9: found streaming names and addresses after each of these ends."""
    absolute = timedelta(minutes=20) if end == "absolute-timeout" else timedelta(hours=12)
    record, token = await active_admin(factory, service, db, clock, absolute)
    async with served(settings, clock, keepalive=0.05) as (base_url, client):
        browser = AdminBrowser(client, token)
        await browser.csrf()
        stream = await LiveStream(client).open()
        try:
            # The session is checked at each keep-alive and passes while it lives.
            await stream.wait_for_line(lambda line: line.startswith(": keep-alive"))
            assert not stream.closed.is_set()
            ctx = Context(db=db, clock=clock, service=service, record=record, browser=browser, base_url=base_url)
            await ENDS[end](ctx)
            await stream.wait_closed()
        finally:
            await stream.close()
        # And it cannot be opened again with that session.
        assert (await client.get(LIVE, headers={"accept": "text/html"})).status_code == 401


async def test_the_session_is_checked_before_every_event_ses_9(settings, factory, service, db, clock):
    """SES-9: with no keep-alive due, the next change after a logout is not delivered:
    the stream checks the session before it sends the row, and closes."""
    org = await factory.organisation()
    admin_id = await factory.account(org, role="admin")
    token = await login_session(db, clock, admin_id, org)
    async with served(settings, clock, keepalive=3600) as (_, client):
        browser = AdminBrowser(client, token)
        await browser.csrf()
        stream = await LiveStream(client).open()
        try:
            first = await factory.invite(org, email="sichtbar@example.org")
            await stream.wait_for_line(lambda line: line == "event: row")
            assert any(f'id="person-{first.id}"' in line for line in stream.received)

            assert (await browser.post("/abmelden")).status_code == 303
            seen = len(stream.received)
            await factory.invite(org, email="geheim@example.org")
            await stream.wait_closed()
        finally:
            await stream.close()
    after_logout = "\n".join(stream.received[seen:])
    assert "geheim@example.org" not in after_logout and "event: row" not in after_logout


async def test_a_live_session_keeps_its_stream_and_the_stream_does_not_keep_the_session_ses_9(
    settings, factory, db, clock
):
    """SES-9: the checks only read the session; an open stream alone does not keep an
    admin logged in past the idle timeout."""
    org = await factory.organisation()
    admin_id = await factory.account(org, role="admin")
    await give_consent(db, clock, admin_id, org)
    token = await sessions.create(db, "login", admin_id, org, clock.now(), timedelta(hours=12))
    async with served(settings, clock, keepalive=0.05) as (_, client):
        AdminBrowser(client, token)  # sets the session cookie
        stream = await LiveStream(client).open()
        try:
            started = clock.now()
            clock.advance(minutes=29)
            for _ in range(2):  # checks made at minute 29 pass ...
                await stream.wait_for_line(lambda line: line.startswith(": keep-alive"))
            assert not stream.closed.is_set()
            # ... and did not count as activity (a request would have moved last_seen_at).
            row = await db.fetch_one(
                WebSession.select(WebSession.last_seen_at).where(WebSession.token_hash == sessions.token_hash(token))
            )
            assert row["last_seen_at"] == started
            clock.advance(minutes=2)  # 31 minutes without a request
            await stream.wait_closed()
        finally:
            await stream.close()
