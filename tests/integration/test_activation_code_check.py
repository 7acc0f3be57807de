"""The app checks the activation code when it is entered, before the PIN (issue 11,
defect 1): it says how many tries are left, or that a new code is needed and where;
the portal's activation page replaces a dead code with that advice. The early check is
a counted try through the same atomic reservation as the activation (ACT-2, PIN-4)."""

from __future__ import annotations

import asyncio
import dataclasses

from db.tables import ActivationCode, AttemptCounter, AuditEvent
from tests.support.app import running_app
from tests.support.device import Device as App
from tests.support.invitee import Invitee

EMAIL = "b.tester@abc.de"


async def registered(settings, factory, db, clock, client):
    record = await factory.invite(email=EMAIL)
    person = Invitee(client, db, clock, settings.secret_key)
    code = (await person.register(record.id)).replace(" ", "")
    return record, person, code


def wrong_for(code: str) -> str:
    return "00000000" if code != "00000000" else "11111111"


async def check(client, code: str, username: str = EMAIL):
    return await client.post("/api/app/activate/code", json={"username": username, "code": code})


async def test_each_wrong_entry_says_the_tries_left_and_the_last_says_where_to_get_a_new_code_ACT2(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, _, code = await registered(settings, factory, db, clock, client)
        for left in (4, 3, 2):
            wrong = await check(client, wrong_for(code))
            assert wrong.status_code == 422
            assert wrong.json() == {
                "error": f"Der Aktivierungscode ist nicht korrekt. Sie haben noch {left} Versuche.",
                "field": "code", "attempts_left": left, "code_state": "wrong"}
        assert (await check(client, wrong_for(code))).json()["error"].endswith("Sie haben noch einen Versuch.")
        last = (await check(client, wrong_for(code))).json()
        assert last["code_state"] == "used_up" and last["attempts_left"] == 0
        assert "verbraucht" in last["error"] and "„Neuen Code anzeigen“" in last["error"]
        # Now even the right code is refused, saying a new one is needed and where.
        right = await check(client, code)
        assert right.status_code == 422 and right.json()["code_state"] == "invalid"
        assert "„Neuen Code anzeigen“" in right.json()["error"]


async def test_a_right_code_passes_the_check_without_using_up_a_try(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        record, _, code = await registered(settings, factory, db, clock, client)
        for _ in range(4):
            assert (await check(client, wrong_for(code))).status_code == 422
        # Four wrong, then the right one checked twice: the activation still has its try.
        assert (await check(client, code)).status_code == 200
        assert (await check(client, code)).status_code == 200
        row = await db.fetch_one(ActivationCode.select(ActivationCode.attempts))
        assert row["attempts"] == 4
        assert (await App(client, clock).activate(EMAIL, code)).status_code == 201


async def test_an_unknown_address_and_an_expired_code_get_the_same_answer_INV8(settings, factory, db, clock):
    """No oracle for an attacker who knows only an address: unknown, expired and used up read alike."""
    async with running_app(settings, clock) as (_, client):
        _, _, code = await registered(settings, factory, db, clock, client)
        unknown = await check(client, code, username="niemand@abc.de")
        clock.advance(minutes=settings.activation_code_minutes, seconds=1)
        expired = await check(client, code)
        assert unknown.status_code == expired.status_code == 422
        assert unknown.json() == expired.json()
        assert "abgelaufen" in expired.json()["error"] and "„Neuen Code anzeigen“" in expired.json()["error"]


async def test_fifty_parallel_early_checks_and_activations_evaluate_at_most_five_PIN4(settings, factory, db, clock):
    """The early check cannot be used to probe codes: it shares the code's atomic try limit."""
    roomy = dataclasses.replace(settings, registration_code_attempts=100)
    async with running_app(roomy, clock) as (_, client):
        record, _, code = await registered(settings, factory, db, clock, client)
        wrong = wrong_for(code)
        calls = [check(client, wrong) if i % 2 else App(client, clock).activate(EMAIL, wrong) for i in range(50)]
        results = await asyncio.gather(*calls)
        assert {r.status_code for r in results} == {422}
    row = await db.fetch_one(ActivationCode.select(ActivationCode.attempts))
    assert row["attempts"] == 5
    assert len(await db.fetch(AuditEvent.select().where(AuditEvent.event == "activation_code_wrong"))) == 5


async def test_early_checks_count_towards_the_registration_lock_ACT2(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        record, person, code = await registered(settings, factory, db, clock, client)
        for _ in range(5):
            await check(client, wrong_for(code))
        code = (await person.show_code()).replace(" ", "")
        for _ in range(4):
            assert (await check(client, wrong_for(code))).status_code == 422
        tenth = await check(client, wrong_for(code))
        assert tenth.status_code == 423 and "gesperrt" in tenth.json()["error"]
        counter = await db.fetch_one(AttemptCounter.select(AttemptCounter.count))
        assert counter["count"] == 10


async def test_the_portal_replaces_a_dead_code_with_the_advice(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, person, code = await registered(settings, factory, db, clock, client)
        poll = {"HX-Request": "true"}
        assert (await person.get("/registrierung/status?code=1", headers=poll)).status_code == 204
        for _ in range(5):
            await check(client, wrong_for(code))
        used_up = await person.get("/registrierung/status?code=1", headers=poll)
        assert used_up.status_code == 200
        assert 'id="activation-code-area" aria-live="polite" hx-swap-oob="true"' in used_up.text
        assert "verbraucht" in used_up.text and "Neuen Code anzeigen" in used_up.text
        # The replaced poll no longer asks about the code, so the advice is announced once.
        assert 'id="activation-poll" hx-get="/registrierung/status" ' in used_up.text
        # Without ?code=1 (no code on the page) the poll stays silent.
        assert (await person.get("/registrierung/status", headers=poll)).status_code == 204

        await person.show_code()
        clock.advance(minutes=settings.activation_code_minutes, seconds=1)
        expired = await person.get("/registrierung/status?code=1", headers=poll)
        assert "abgelaufen" in expired.text and "verbraucht" not in expired.text
