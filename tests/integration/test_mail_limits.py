"""Mail limits that hold under concurrency (LIM-1): per admin and hour (invitations,
resends, registration links, CSV import rows), per recipient and day, counted in the
database by one conditional statement, across several processes."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from markupsafe import escape

from db.tables import FlowInstance, LimitUse, Outbox, TransitionHistory
from tests.support.admin import AdminBrowser, login_session
from tests.support.app import running_app
from web.app import create_app
from core.crypto import fast_pin_hasher

ADMIN_REFUSAL = "Sie haben in der letzten Stunde bereits {} Einladungen oder Registrierungslinks verschickt."
RECIPIENT_REFUSAL = "An diese E-Mail-Adresse wurden in den letzten 24 Stunden bereits {} E-Mails"


async def count(db, table, where=None) -> int:
    query = table.select(table.id)
    return len(await db.fetch(query.where(where) if where is not None else query))


@asynccontextmanager
async def two_processes(settings, clock):
    """Two apps with their own database handles, as two `serve` processes have."""
    async with AsyncExitStack() as stack:
        apps = [create_app(settings, clock, pin_hasher=fast_pin_hasher()) for _ in range(2)]
        for app in apps:
            await stack.enter_async_context(app.lifespan())
        yield apps


async def browser_for(stack: AsyncExitStack, app, token: str) -> AdminBrowser:
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 4711))
    client = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://test"))
    admin = AdminBrowser(client, token)
    await admin.csrf()
    return admin


async def test_100_parallel_invitations_of_one_admin_accept_exactly_the_limit_lim_1(settings, factory, db, clock):
    """LIM-1: found 70 of 70 accepted against a limit of 50; now exactly 50 of 100 pass,
    sent through two processes at once, and only they wrote anything."""
    limited = dataclasses.replace(settings, invites_per_admin_per_hour=50)
    org = await factory.organisation()
    admin_id = await factory.account(org, role="admin")
    token = await login_session(db, clock, admin_id, org)
    async with two_processes(limited, clock) as apps, AsyncExitStack() as stack:
        admins = [await browser_for(stack, app, token) for app in apps]
        responses = await asyncio.gather(*[
            admins[i % 2].invite(email=f"neu{i}@beispiel.de") for i in range(100)
        ])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [303] * 50 + [429] * 50, {c: statuses.count(c) for c in set(statuses)}
    refused = next(r for r in responses if r.status_code == 429)
    assert str(escape(ADMIN_REFUSAL.format(50))) in refused.text
    assert await count(db, FlowInstance) == 50
    assert await count(db, Outbox) == 50
    assert await count(db, TransitionHistory) == 50


async def test_100_admins_cannot_flood_one_address_lim_1(settings, factory, db, clock):
    """LIM-1: 100 admins of 100 organisations invite the same address at once; the
    recipient's limit (5 a day) lets exactly 5 mails through, the rest get 429."""
    tokens = []
    for _ in range(100):
        org = await factory.organisation()
        tokens.append(await login_session(db, clock, await factory.account(org, role="admin"), org))
    async with two_processes(settings, clock) as apps, AsyncExitStack() as stack:
        admins = [await browser_for(stack, apps[i % 2], token) for i, token in enumerate(tokens)]
        responses = await asyncio.gather(*[admin.invite(email="Opfer@Example.org") for admin in admins])
    assert sorted(r.status_code for r in responses) == [303] * 5 + [429] * 95
    refused = next(r for r in responses if r.status_code == 429)
    assert str(escape(RECIPIENT_REFUSAL.format(5))) in refused.text
    # The refusal sits next to the address, and the admin's input is kept.
    assert 'aria-describedby="email-error"' in refused.text and 'value="Müller"' in refused.text
    assert await count(db, Outbox) == 5
    assert await count(db, FlowInstance) == 5


async def test_resends_and_registration_links_count_against_the_admin_limit_lim_1(settings, factory, db, clock):
    limited = dataclasses.replace(settings, invites_per_admin_per_hour=3)
    org = await factory.organisation()
    token = await login_session(db, clock, await factory.account(org, role="admin"), org)
    invited = await factory.invite(org, email="eins@example.org")
    in_progress = await factory.invite(org, email="zwei@example.org")
    await factory.service.send(in_progress.id, "complete_profile", data={"first_name": "Z", "last_name": "W"})
    async with running_app(limited, clock) as (_, client):
        admin = AdminBrowser(client, token)
        assert (await admin.event(invited.id, "resend")).status_code == 303
        assert (await admin.event(in_progress.id, "send_registration_link")).status_code == 303
        assert (await admin.invite(email="drei@example.org")).status_code == 303
        outbox_before = await count(db, Outbox)
        refused = await admin.event(invited.id, "resend", htmx=True)
        assert refused.status_code == 429
        assert str(escape(ADMIN_REFUSAL.format(3))) in refused.text
        assert f'id="person-{invited.id}"' in refused.text  # the row, with the message in it
        refused_link = await admin.event(in_progress.id, "send_registration_link")
        assert refused_link.status_code == 429 and str(escape(ADMIN_REFUSAL.format(3))) in refused_link.text
        assert (await admin.invite(email="vier@example.org")).status_code == 429
        assert await count(db, Outbox) == outbox_before  # nothing half-written
        history = await db.fetch(TransitionHistory.select(TransitionHistory.event).where(TransitionHistory.instance == invited.id))
        assert [h["event"] for h in history] == ["invite", "resend"]
        for _ in range(3):  # an hour later, the session kept alive in between
            clock.advance(minutes=21)
            assert (await admin.get("/nutzerverwaltung/")).status_code == 200
        assert (await admin.event(invited.id, "resend")).status_code == 303


async def test_resends_to_one_address_stop_at_the_recipient_limit_lim_1(settings, factory, db, clock):
    """LIM-1: an admin (or several) cannot mail one address more than 5 times a day."""
    org = await factory.organisation()
    token = await login_session(db, clock, await factory.account(org, role="admin"), org)
    async with running_app(settings, clock) as (_, client):
        admin = AdminBrowser(client, token)
        assert (await admin.invite(email="ziel@example.org")).status_code == 303
        [instance] = await db.fetch(FlowInstance.select(FlowInstance.id))
        for _ in range(4):
            assert (await admin.event(instance["id"], "resend")).status_code == 303
        refused = await admin.event(instance["id"], "resend")
        assert refused.status_code == 429 and str(escape(RECIPIENT_REFUSAL.format(5))) in refused.text
        assert await count(db, Outbox) == 5
        # The limit counts admin actions only: timer mails still reach the person.
        await factory.service.send(instance["id"], "remind_inactive")
        assert await count(db, Outbox) == 6
    clock.advance(hours=24)  # a day later, in a new session
    token = await login_session(db, clock, await factory.account(org, role="admin"), org)
    async with running_app(settings, clock) as (_, client):
        assert (await AdminBrowser(client, token).event(instance["id"], "resend")).status_code == 303
    # The table keeps no address in clear, only a hash per recipient.
    scopes = [row["scope"] for row in await db.fetch(LimitUse.select(LimitUse.scope))]
    assert scopes and not any("ziel@example.org" in scope for scope in scopes)
