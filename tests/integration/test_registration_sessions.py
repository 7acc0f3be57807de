"""Registration sessions end with the links that opened them (INV-9) and with the
link's validity (INV-2), not only when the admin revokes or the expiry timer fires."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from db import sessions
from db.tables import Account, ActivationCode, Device, FlowInstance, WebSession
from tests.support.admin import AdminBrowser, login_session
from tests.support.app import running_app
from tests.support.device import Device as App
from tests.support.invitee import Invitee

HTML = {"accept": "text/html"}
PROFILE = {"salutation": "Herr", "first_name": "Mallory", "last_name": "Angreifer", "phone": ""}


@pytest.fixture
async def app_clients():
    """Another browser (its own cookie jar) on a running app, e.g. the attacker's."""
    made: list[httpx.AsyncClient] = []

    async def client_for(app) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("198.51.100.66", 4242)), base_url="http://test")
        made.append(client)
        return client

    yield client_for
    for client in made:
        await client.aclose()


async def state_of(db, instance_id):
    return (await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == instance_id)))["state"]


async def admin_browser(factory, db, clock, client, organisation_id) -> AdminBrowser:
    account_id = await factory.account(organisation_id, role="admin")
    return AdminBrowser(client, await login_session(db, clock, account_id, organisation_id))


async def open_sessions(db, instance_id) -> int:
    rows = await db.fetch(WebSession.select(WebSession.id).where(
        (WebSession.instance == instance_id) & (WebSession.kind == "registration") & WebSession.ended_at.is_null()
    ))
    return len(rows)


async def test_a_leaked_links_session_cannot_save_the_profile_after_a_resend_inv_9(settings, factory, db, clock, app_clients):
    """INV-9, adversarial: the attacker opened the registration with a leaked link; the admin
    resends the invitation; the attacker's session can no longer save personal data."""
    org = await factory.organisation()
    record = await factory.invite(org, email="opfer@example.org")
    async with running_app(settings, clock) as (app, client):
        attacker = Invitee(await app_clients(app), db, clock, settings.secret_key)
        await attacker.redeem(await attacker.issue_link(record.id))
        assert (await attacker.get("/registrierung/daten")).status_code == 200
        admin = await admin_browser(factory, db, clock, client, org)
        assert (await admin.event(record.id, "resend")).status_code == 303
        refused = await attacker.post("/registrierung/daten", data=PROFILE, headers=HTML)
        assert refused.status_code == 401
        assert (await attacker.get("/registrierung/daten", headers=HTML)).status_code == 401
    account = await db.fetch_one(Account.select(Account.first_name).where(Account.id == record.account_id))
    assert account["first_name"] == "Bernhard" and await state_of(db, record.id) == "invited"


async def test_a_leaked_links_session_cannot_bind_a_device_after_a_new_registration_link_inv_9(
    settings, factory, db, clock, app_clients
):
    """INV-9, adversarial: the attacker saved the profile and was shown an activation code;
    "Registrierungslink senden" ends that session and its code: no device of theirs is bound."""
    org = await factory.organisation()
    record = await factory.invite(org, email="opfer@example.org")
    async with running_app(settings, clock) as (app, client):
        attacker = Invitee(await app_clients(app), db, clock, settings.secret_key)
        code = await attacker.register(record.id)
        assert await state_of(db, record.id) == "in_progress"
        admin = await admin_browser(factory, db, clock, client, org)
        assert (await admin.event(record.id, "send_registration_link")).status_code == 303
        assert (await attacker.post("/registrierung/aktivierung", headers=HTML)).status_code == 401
        attackers_app = App(await app_clients(app), clock)
        bound = await attackers_app.activate("opfer@example.org", code.replace(" ", ""))
        assert bound.status_code == 422
    assert await db.fetch(Device.select(Device.id)) == []
    assert await state_of(db, record.id) == "in_progress"
    assert await db.fetch(ActivationCode.select(ActivationCode.id).where(ActivationCode.ended_at.is_null())) == []


async def test_the_expiry_ends_the_registration_session_inv_9(settings, factory, db, clock, service):
    record = await factory.invite()
    async with running_app(settings, clock) as (_, client):
        person = Invitee(client, db, clock, settings.secret_key)
        await person.redeem(await person.issue_link(record.id))
        assert await open_sessions(db, record.id) == 1
        await service.send(record.id, "expire")  # as the timer sends it
        assert await open_sessions(db, record.id) == 0
        assert (await person.get("/registrierung/daten", headers=HTML)).status_code == 401


async def test_an_unlock_ends_registration_sessions_left_from_before_inv_9(settings, factory, db, clock, service):
    """INV-9: the unlock sends a new registration link; whatever registration session was
    left (here one written directly, since the lock ends those it knows) ends with it."""
    org = await factory.organisation()
    record = await factory.invite(org)
    await service.send(record.id, "complete_profile", data={"first_name": "A", "last_name": "B"})
    await service.send(record.id, "lock")
    await sessions.create(db, "registration", record.account_id, org, clock.now(), timedelta(hours=12), instance_id=record.id)
    assert await open_sessions(db, record.id) == 1
    async with running_app(settings, clock) as (_, client):
        admin = await admin_browser(factory, db, clock, client, org)
        assert (await admin.event(record.id, "unlock")).status_code == 303
    assert await state_of(db, record.id) == "in_progress"
    assert await open_sessions(db, record.id) == 0


async def test_a_registration_session_ends_with_its_links_validity_without_the_sweep_inv_2(settings, factory, db, clock):
    """INV-2: 720 h after the invitation the link's session ends, even though no timer
    sweep ran and the instance is still "invited" in the database."""
    record = await factory.invite()
    async with running_app(settings, clock) as (_, client):
        person = Invitee(client, db, clock, settings.secret_key)
        link = await person.issue_link(record.id)
        clock.advance(hours=719, minutes=50)
        await person.redeem(link)
        assert (await person.get("/registrierung/daten")).status_code == 200
        clock.advance(minutes=11)  # 720 h and 1 min after the invitation; within the idle timeout
        assert (await person.post("/registrierung/daten", data=PROFILE, headers=HTML)).status_code == 401
        assert (await person.post(link)).status_code == 404  # and the link itself is dead
    assert await state_of(db, record.id) == "invited"  # the expiry timer has not fired
