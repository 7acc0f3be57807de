""""Gerät verloren" (PIN-5) while something else changes the account at the same moment:
it either revokes the device and ends every session, or says in German (409) that it
did not, with nothing written. It never redirects as if it had worked when it had not."""

from __future__ import annotations

import pytest

from db import instances
from db.tables import Device, FlowInstance, TransitionHistory, WebSession
from tests.integration.test_consent_postfach import logged_in, state_of
from tests.support.app import running_app


@pytest.fixture
def concurrently(monkeypatch):
    """Runs `change(instance_id)` right after the transition has read the instance and
    before it writes: the window in which another process's commit makes it conflict."""
    original = instances.load
    plan: dict = {"change": None, "times": 0}

    async def load(db, instance_id, organisation_id=None):
        record = await original(db, instance_id, organisation_id)
        if plan["times"] > 0:
            plan["times"] -= 1
            await plan["change"](instance_id)
        return record

    monkeypatch.setattr(instances, "load", load)

    def arrange(change, times: int = 1) -> None:
        plan.update(change=change, times=times)

    return arrange


def version_bump(db):
    """Another transition that committed and left the state as it was (e.g. from another process)."""

    async def change(instance_id: int) -> None:
        await db.write([FlowInstance.update({FlowInstance.version: FlowInstance.version + 1}).where(FlowInstance.id == instance_id)])

    return change


async def device_revoked(db) -> bool:
    return (await db.fetch_one(Device.select(Device.revoked_at)))["revoked_at"] is not None


async def open_sessions(db, account_id: int) -> int:
    rows = await db.fetch(WebSession.select(WebSession.id).where((WebSession.account == account_id) & WebSession.ended_at.is_null()))
    return len(rows)


async def lose_device_transitions(db, instance_id: int) -> int:
    rows = await db.fetch(TransitionHistory.select(TransitionHistory.id).where(
        (TransitionHistory.instance == instance_id) & (TransitionHistory.event == "lose_device")))
    return len(rows)


async def test_device_lost_is_retried_after_a_concurrent_change_pin_5(settings, factory, db, clock, concurrently):
    async with running_app(settings, clock) as (_, client):
        record, person, app = await logged_in(settings, factory, db, clock, client)
        await person.accept_consent()
        concurrently(version_bump(db), times=1)
        lost = await person.post("/profil/geraet-verloren")
        assert lost.status_code == 303 and lost.headers["location"] == "/"
        assert (await app.requests()).status_code == 401
    assert await device_revoked(db)
    assert await state_of(db, record.id) == "locked"
    assert await open_sessions(db, record.account_id) == 0
    assert await lose_device_transitions(db, record.id) == 1


async def test_device_lost_that_keeps_conflicting_says_so_and_writes_nothing_pin_5(settings, factory, db, clock, concurrently):
    async with running_app(settings, clock) as (_, client):
        record, person, app = await logged_in(settings, factory, db, clock, client)
        await person.accept_consent()
        concurrently(version_bump(db), times=100)
        lost = await person.post("/profil/geraet-verloren")
        assert lost.status_code == 409
        assert (
            '<p class="field-error" id="device-error" role="alert">Das Gerät konnte gerade nicht gesperrt werden, weil sich '
            "Ihr Zugang im selben Moment geändert hat." in lost.text
        )
        assert 'aria-describedby="device-error">Gerät verloren</button>' in lost.text
        concurrently(version_bump(db), times=0)
        # Nothing half-done: the device still works, the person is still logged in.
        assert (await person.get("/profil")).status_code == 200
        assert (await app.requests()).status_code == 200
        assert not await device_revoked(db)
        assert await state_of(db, record.id) == "active"
        assert await lose_device_transitions(db, record.id) == 0
        # Trying again once the other writer is done works.
        assert (await person.post("/profil/geraet-verloren")).status_code == 303
    assert await device_revoked(db) and await open_sessions(db, record.account_id) == 0


async def test_device_lost_in_a_second_tab_at_the_same_moment_counts_as_done_pin_5(settings, factory, db, clock, concurrently):
    async with running_app(settings, clock) as (app_, client):
        record, person, _ = await logged_in(settings, factory, db, clock, client)
        await person.accept_consent()

        async def other_tab(instance_id: int) -> None:
            await app_.state.service.send(instance_id, "lose_device", actor=f"account:{record.account_id}")

        concurrently(other_tab, times=1)
        lost = await person.post("/profil/geraet-verloren")
        assert lost.status_code == 303 and lost.headers["location"] == "/"
    assert await device_revoked(db)
    assert await open_sessions(db, record.account_id) == 0
    assert await lose_device_transitions(db, record.id) == 1


async def test_device_lost_while_an_admin_locks_the_account_is_refused_visibly_pin_5(settings, factory, db, clock, concurrently):
    """The lock ends the sessions but keeps the device; the flow does not let a locked
    account lose its device, so the person is told to ask the admin instead of being
    sent off as if the device were blocked."""
    async with running_app(settings, clock) as (app_, client):
        record, person, _ = await logged_in(settings, factory, db, clock, client)
        await person.accept_consent()

        async def admin_locks(instance_id: int) -> None:
            await app_.state.service.send(instance_id, "lock", actor="account:admin")

        concurrently(admin_locks, times=1)
        lost = await person.post("/profil/geraet-verloren")
        assert lost.status_code == 409
        assert "Bitte wenden Sie sich an den Admin Ihrer Organisation, damit das Gerät zurückgesetzt wird." in lost.text
    assert not await device_revoked(db)
    assert await state_of(db, record.id) == "locked"
    assert await lose_device_transitions(db, record.id) == 0
