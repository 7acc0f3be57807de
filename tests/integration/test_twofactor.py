"""Device activation (ACT-1..3), PIN (PIN-1..4) and the login approved in the app."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import pytest

from db.tables import ActivationCode, AuditEvent, Device, FlowInstance, Outbox, TransitionHistory, WebSession
from core.crypto import PinHasher, fast_pin_hasher
from tests.support.app import running_app
from tests.support.device import Device as App
from tests.support.invitee import Invitee
from workflows.twofactor import WRONG_CODE
from web.auth import SESSION_COOKIE

PIN = "472913"


class CountingHasher(PinHasher):
    """The real (fast) argon2id hasher, counting how often a PIN is actually checked."""

    def __init__(self):
        super().__init__(fast_pin_hasher().hasher)
        self.verifications = 0

    async def verify(self, pin_hash, pin):
        self.verifications += 1
        return await super().verify(pin_hash, pin)


async def state_of(db, instance_id):
    return (await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == instance_id)))["state"]


async def registered(settings, factory, db, clock, app_client, email="b.tester@abc.de"):
    record = await factory.invite(email=email)
    person = Invitee(app_client, db, clock, settings.secret_key)
    code = await person.register(record.id)
    return record, person, code


async def test_activation_binds_the_device_and_completes_the_registration(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        record, person, code = await registered(settings, factory, db, clock, client)
        assert re.fullmatch(r"\d{4} \d{4}", code)
        app = App(client, clock)
        response = await app.activate("B.Tester@abc.de", code.replace(" ", ""))
        assert response.status_code == 201, response.text
        assert await state_of(db, record.id) == "registered"
        status = await person.get("/registrierung/status", headers={"HX-Request": "true"})
        assert status.headers["HX-Redirect"] == "/registrierung/glueckwunsch"
        done = await person.get("/registrierung/glueckwunsch")
        assert "Glückwunsch" in done.text and "Jetzt einloggen" in done.text
    device = await db.fetch_one(Device.select())
    assert device["pin_hash"].startswith("$argon2id$") and PIN not in str(device)
    mails = [r["kind"] for r in await db.fetch(Outbox.select(Outbox.kind).where(Outbox.instance == record.id))]
    assert mails == ["invitation", "device_bound"]  # ACT-3; the code itself is never mailed
    code_digits = code.replace(" ", "")
    for table in (Outbox, TransitionHistory, AuditEvent, ActivationCode):
        assert code_digits not in str(await db.fetch(table.select())), table


async def test_a_code_works_once_and_for_ten_minutes(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        record, person, code = await registered(settings, factory, db, clock, client)
        clock.advance(minutes=10, seconds=1)
        late = await App(client, clock).activate("b.tester@abc.de", code)
        assert late.status_code == 422 and "nicht korrekt" in late.json()["error"]
        code = await person.show_code()
        assert (await App(client, clock).activate("b.tester@abc.de", code)).status_code == 201
        assert (await App(client, clock).activate("b.tester@abc.de", code)).status_code == 422


@pytest.mark.parametrize(
    ("pin", "repeat", "message"),
    [("12345", "12345", "genau 6 Ziffern"), ("12a456", "12a456", "genau 6 Ziffern"), ("472913", "472914", "stimmen nicht überein"),
     ("000000", "000000", "zu leicht"), ("123456", "123456", "zu leicht"), ("654321", "654321", "zu leicht")],
)
async def test_pins_must_be_six_digits_twice_and_not_trivial(settings, factory, db, clock, pin, repeat, message):
    async with running_app(settings, clock) as (_, client):
        record, _, code = await registered(settings, factory, db, clock, client)
        response = await App(client, clock).activate("b.tester@abc.de", code, pin=pin, pin_repeat=repeat)
        assert response.status_code == 422 and message in response.json()["errors"]["pin"]
        assert await state_of(db, record.id) == "in_progress"


async def test_malformed_and_unexpected_api_input_is_refused(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, _, code = await registered(settings, factory, db, clock, client)
        app = App(client, clock)
        assert (await app.activate(["b.tester@abc.de", "x@y.de"], code)).status_code == 422
        assert (await app.activate("b.tester@abc.de", code, admin=True)).status_code == 400
        assert (await app.activate("b.tester@abc.de", code, public_key={"kty": "RSA"})).status_code == 422
        assert (await client.post("/api/app/activate", content=b"not json", headers={"content-type": "application/json"})).status_code == 400


async def test_five_wrong_tries_per_code_and_ten_per_registration_then_locked(settings, factory, db, clock, service):
    async with running_app(settings, clock) as (_, client):
        record, person, code = await registered(settings, factory, db, clock, client)
        app = App(client, clock)
        wrong = "00000000" if code.replace(" ", "") != "00000000" else "11111111"
        for _ in range(5):
            assert (await app.activate("b.tester@abc.de", wrong)).status_code == 422
        # The code is used up: even the right one no longer works.
        assert (await app.activate("b.tester@abc.de", code)).status_code == 422
        # A new code does not reset the registration's counter (6 used so far).
        code = await person.show_code()
        for _ in range(3):
            assert (await app.activate("b.tester@abc.de", wrong)).status_code == 422
        tenth = await app.activate("b.tester@abc.de", wrong)
        assert tenth.status_code == 423 and "gesperrt" in tenth.json()["error"]
        assert await state_of(db, record.id) == "locked"
        # Locked until an admin resets it: the right code does not help. A locked
        # registration is not among those a code is checked against, so the answer is the
        # same as for any wrong code (the lock itself was said once, with 423).
        right_but_locked = await app.activate("b.tester@abc.de", code)
        assert right_but_locked.status_code == 422
        assert right_but_locked.json() == {"error": WRONG_CODE, "field": "code", "attempts_left": 0, "code_state": "invalid"}
        await service.send(record.id, "unlock", actor="account:1")
        assert await state_of(db, record.id) == "in_progress"
        # The lock ended the registration session and the unlock sent a new link
        # (the old one is dead); the counter starts again, so a new code works.
        assert (await person.get(person.link)).status_code == 404
        await person.redeem(await person.issue_link(record.id))
        code = await person.show_code()
        assert (await app.activate("b.tester@abc.de", code)).status_code == 201


async def test_fifty_parallel_wrong_codes_evaluate_at_most_five(settings, factory, db, clock):
    strict = dataclasses.replace(settings, registration_code_attempts=100)
    async with running_app(strict, clock) as (_, client):
        record, _, code = await registered(settings, factory, db, clock, client)
        wrong = "00000000" if code.replace(" ", "") != "00000000" else "11111111"
        results = await asyncio.gather(*[App(client, clock).activate("b.tester@abc.de", wrong) for _ in range(50)])
        assert {r.status_code for r in results} == {422}
    attempts = await db.fetch_one(ActivationCode.select(ActivationCode.attempts).where(ActivationCode.instance == record.id))
    assert attempts["attempts"] == 5
    wrong_events = await db.fetch(AuditEvent.select().where(AuditEvent.event == "activation_code_wrong"))
    assert len(wrong_events) == 5


async def login_request(person: Invitee, email: str) -> tuple[str, str]:
    await person.get("/anmelden")
    started = await person.post("/anmelden", data={"username": email})
    assert started.status_code == 303
    wait_path = started.headers["location"]
    page = await person.get(wait_path)
    number = re.search(r'id="login-number"[^>]*>(\d{3} \d{3})<', page.text).group(1)
    return wait_path.rsplit("/", 1)[1], number.replace(" ", "")


async def activated(settings, factory, db, clock, client, email="b.tester@abc.de"):
    record, person, code = await registered(settings, factory, db, clock, client, email=email)
    app = App(client, clock)
    assert (await app.activate(email, code, pin=PIN)).status_code == 201
    client.cookies.clear()
    return record, person, app


async def test_login_is_approved_in_the_app_and_gives_a_fresh_session(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        record, person, app = await activated(settings, factory, db, clock, client)
        public_id, number = await login_request(person, "b.tester@abc.de")
        pending = await person.post(f"/anmelden/weiter/{public_id}", headers={"HX-Request": "true"})
        assert pending.status_code == 204 and SESSION_COOKIE not in pending.cookies
        listed = (await app.requests()).json()["requests"]
        assert len(listed) == 1 and "number" not in listed[0]  # the person types it from the browser (PIN-6)
        assert (await app.answer(listed[0], pin=PIN, number=number)).json() == {"status": "approved"}
        done = await person.post(f"/anmelden/weiter/{public_id}")
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert done.cookies.get(SESSION_COOKIE)
        first = await person.get("/")
        assert first.status_code == 303 and first.headers["location"] == "/einwilligung"  # consent first
        assert (await person.accept_consent()).status_code == 303
        home = await person.get("/")
        assert "Herzlich Willkommen, Bernhard Tester." in home.text
        # The approval is used once: a poll that crossed the finishing one changes
        # nothing (no second session) and also lands on the start page.
        again = await person.post(f"/anmelden/weiter/{public_id}")
        assert again.status_code == 303 and SESSION_COOKIE not in again.cookies
        assert len(await db.fetch(WebSession.select().where(WebSession.kind == "login"))) == 1
        # Logout ends the session on the server.
        assert (await person.post("/abmelden")).status_code == 303
        sessions = await db.fetch(WebSession.select(WebSession.kind, WebSession.ended_at).where(WebSession.kind == "login"))
        assert len(sessions) == 1 and sessions[0]["ended_at"] is not None


def without_secrets(html: str) -> str:
    """A waiting page without its tokens and its number (shown grouped and spelled out)."""
    return re.sub(r"[A-Za-z0-9_-]{20,}|\d{3} \d{3}|(\d )+\d", "", html)


async def test_unknown_users_get_the_same_waiting_page(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        await activated(settings, factory, db, clock, client)
        person = Invitee(client, db, clock, settings.secret_key)
        known = await person.post("/anmelden", data={"username": "b.tester@abc.de"})
        known_page = await person.get(known.headers["location"])
        unknown = await person.post("/anmelden", data={"username": "nobody@abc.de"})
        unknown_page = await person.get(unknown.headers["location"])
        assert known.status_code == unknown.status_code == 303
        assert without_secrets(known_page.text) == without_secrets(unknown_page.text)


async def test_another_browser_cannot_finish_someone_elses_login(settings, factory, db, clock):
    async with running_app(settings, clock) as (app_, client):
        _, person, app = await activated(settings, factory, db, clock, client)
        public_id, number = await login_request(person, "b.tester@abc.de")
        await app.answer((await app.requests()).json()["requests"][0], pin=PIN, number=number)
        client.cookies.clear()  # the attacker's browser lacks the login cookie
        attacker = Invitee(client, db, clock, settings.secret_key)
        stolen = await attacker.post(f"/anmelden/weiter/{public_id}")
        assert stolen.status_code == 409 and SESSION_COOKIE not in stolen.cookies


async def test_requests_expire_after_two_minutes(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, person, app = await activated(settings, factory, db, clock, client)
        public_id, number = await login_request(person, "b.tester@abc.de")
        listed = (await app.requests()).json()["requests"]
        clock.advance(seconds=121)
        assert (await app.requests()).json()["requests"] == []
        assert (await app.answer(listed[0], pin=PIN, number=number)).status_code == 409


async def test_wrong_pins_are_counted_and_five_lock_the_device(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, person, app = await activated(settings, factory, db, clock, client)
        _, number = await login_request(person, "b.tester@abc.de")
        request = (await app.requests()).json()["requests"][0]
        for left in (4, 3, 2, 1):
            wrong = await app.answer(request, pin="111333", number=number)
            assert wrong.status_code == 401 and wrong.json()["attempts_left"] == left
        fifth = await app.answer(request, pin="111333", number=number)
        assert fifth.status_code == 423 and "gesperrt" in fifth.json()["error"]
        assert (await app.answer(request, pin=PIN, number=number)).status_code == 423
        assert (await app.requests()).status_code == 423
    assert (await db.fetch(AuditEvent.select().where(AuditEvent.event == "pin_lock")))
    # The admin sees "Gesperrt"; after their unlock the person registers a new device.
    assert (await db.fetch_one(FlowInstance.select(FlowInstance.state, FlowInstance.context)))["state"] == "locked"


async def test_fifty_parallel_wrong_pins_evaluate_at_most_five(settings, factory, db, clock):
    hasher = CountingHasher()
    async with running_app(settings, clock, pin_hasher=hasher) as (_, client):
        _, person, app = await activated(settings, factory, db, clock, client)
        _, number = await login_request(person, "b.tester@abc.de")
        request = (await app.requests()).json()["requests"][0]
        hasher.verifications = 0
        results = await asyncio.gather(*[app.answer(request, pin="111333", number=number) for _ in range(50)])
    assert hasher.verifications <= 5
    assert sum(r.status_code == 401 for r in results) <= 4
    device = await db.fetch_one(Device.select(Device.pin_failures, Device.locked_at))
    assert device["pin_failures"] == 5 and device["locked_at"] is not None


async def test_signatures_are_checked(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, person, app = await activated(settings, factory, db, clock, client)
        _, number = await login_request(person, "b.tester@abc.de")
        request = (await app.requests()).json()["requests"][0]
        impostor = App(client, clock)
        impostor.device_id = app.device_id  # knows the id, not the key
        assert (await impostor.requests()).status_code == 401
        assert (await impostor.answer(request, pin=PIN, number=number)).status_code == 401
        stale = await app.requests(timestamp_ms=int(clock.now().timestamp() * 1000) - 10 * 60 * 1000)
        assert stale.status_code == 401


async def test_admins_log_in_with_the_second_factor_too(settings, factory, db, clock, service):
    async with running_app(settings, clock) as (_, client):
        record, person, app = await activated(settings, factory, db, clock, client, email="chefin@abc.de")
        from db.tables import Account

        await db.write([Account.update({Account.role: "admin"}).where(Account.id == record.account_id)])
        public_id, number = await login_request(person, "chefin@abc.de")
        # Without the app's approval there is no session and no admin page.
        assert (await person.post(f"/anmelden/weiter/{public_id}")).status_code == 200
        assert (await person.get("/nutzerverwaltung/", headers={"accept": "text/html"})).status_code == 401
        await app.answer((await app.requests()).json()["requests"][0], pin=PIN, number=number)
        assert (await person.post(f"/anmelden/weiter/{public_id}")).status_code == 303
        await person.accept_consent()
        assert (await person.get("/nutzerverwaltung/")).status_code == 200


async def test_locked_people_cannot_log_in(settings, factory, db, clock, service):
    async with running_app(settings, clock) as (_, client):
        record, person, app = await activated(settings, factory, db, clock, client)
        await service.send(record.id, "lock", actor="account:1")
        public_id, _ = await login_request(person, "b.tester@abc.de")
        assert (await app.requests()).json()["requests"] == []
        assert (await person.post(f"/anmelden/weiter/{public_id}")).status_code == 200  # still waiting, never approvable


async def test_an_admins_device_reset_ends_the_device_and_sessions_at_once(settings, factory, db, clock, service):
    async with running_app(settings, clock) as (_, client):
        record, person, app = await activated(settings, factory, db, clock, client)
        public_id, number = await login_request(person, "b.tester@abc.de")
        await app.answer((await app.requests()).json()["requests"][0], pin=PIN, number=number)
        assert (await person.post(f"/anmelden/weiter/{public_id}")).status_code == 303
        await person.accept_consent()
        assert "Herzlich Willkommen" in (await person.get("/")).text
        await service.send(record.id, "revoke_device", actor="account:1")
        assert "Herzlich Willkommen" not in (await person.get("/", follow_redirects=True)).text  # the session ended at once
        assert (await app.requests()).status_code == 401
        assert await state_of(db, record.id) == "in_progress"
    mails = [r["kind"] for r in await db.fetch(Outbox.select(Outbox.kind).where(Outbox.instance == record.id).order_by(Outbox.id))]
    assert mails[-1] == "registration_status"  # with a link back to the device step
    sessions = await db.fetch(WebSession.select(WebSession.ended_at).where(WebSession.account == record.account_id))
    assert all(s["ended_at"] is not None for s in sessions)
