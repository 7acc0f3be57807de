"""Automatic transitions (`auto: true` in the flow file) run right after the event that
leads into their state, in the same transaction, and each gets its history row: after a
request, after a timer, and after the first event of a new instance."""

from __future__ import annotations

import pytest

from workflows import flow_snapshots
from db.engine import Sql, Step
from db.tables import FlowInstance, Timer, TransitionHistory
from jobs.timers import fire_due_timers
from tests.support.factories import Factory
from tests.support.flow_copies import dump, shipped_data
from workflows.invitations import Person, invite
from workflows.registry import FlowRegistry
from workflows.roles import EventOf
from workflows.service import FlowService, TransitionConflict

PROFILE = {"first_name": "Bernhard", "last_name": "Tester"}


async def history_of(db, instance_id) -> list[tuple[str, str, str, str]]:
    rows = await db.fetch(
        TransitionHistory.select(
            TransitionHistory.event, TransitionHistory.from_state, TransitionHistory.to_state, TransitionHistory.actor
        ).where(TransitionHistory.instance == instance_id).order_by(TransitionHistory.id)
    )
    return [(r["event"], r["from_state"], r["to_state"], r["actor"]) for r in rows]


async def instance(db, instance_id) -> dict:
    return await db.fetch_one(FlowInstance.select(FlowInstance.state, FlowInstance.version).where(FlowInstance.id == instance_id))


async def registered(factory, service):
    record = await factory.invite()
    await service.send(record.id, EventOf("profile_saved"), data=PROFILE)
    await service.send(record.id, EventOf("activated"))
    return record


async def test_the_consent_is_followed_by_its_automatic_step_in_one_write(factory, service, db):
    record = await registered(factory, service)
    before = await instance(db, record.id)

    written, outcome = await service.send(record.id, EventOf("consent_given"), actor="account:7")

    assert (outcome.event, outcome.target) == ("consent", "consented")  # the outcome of the event sent
    assert (written.state, written.version) == ("active", before["version"] + 2)
    assert await instance(db, record.id) == {"state": "active", "version": before["version"] + 2}
    assert (await history_of(db, record.id))[-2:] == [
        ("consent", "registered", "consented", "account:7"),
        ("done", "consented", "active", "account:7"),
    ]


async def test_nothing_of_the_event_or_its_automatic_step_is_written_when_the_transaction_fails(factory, service, db):
    record = await registered(factory, service)
    before, history = await instance(db, record.id), await history_of(db, record.id)
    # A statement of the same transaction that finds no row: the whole write is refused.
    failing = Step(Sql(FlowInstance, 'UPDATE "flow_instance" SET "version" = "version" WHERE "id" = {} RETURNING "id"', -1), expect_rows=1)

    with pytest.raises(TransitionConflict):
        await service.send(record.id, EventOf("consent_given"), extra_steps=[failing])

    assert await instance(db, record.id) == before
    assert await history_of(db, record.id) == history


def copy_registry(tmp_path, change) -> FlowRegistry:
    data = shipped_data()
    data["version"] += 1
    change(data)
    (tmp_path / "onboarding.yaml").write_text(dump(data), encoding="utf-8")
    return FlowRegistry.from_directory(tmp_path)


def make_automatic(event: str):
    def change(data):
        for t in data["transitions"]:
            if t["event"] == event:
                t["auto"] = True
                t.pop("trigger", None)

    return change


async def test_a_timer_event_is_followed_by_its_automatic_step_in_the_same_sweep(db, clock, tmp_path):
    registry = copy_registry(tmp_path, make_automatic("purge"))  # data removed as soon as it expires
    await flow_snapshots.sync(db, registry)
    service = FlowService(db, registry, clock)
    record = await Factory(db, service).invite()

    clock.advance(hours=720)
    result = await fire_due_timers(service)

    assert result.fired == 3  # the two reminders, then the expiry
    assert (await instance(db, record.id))["state"] == "deleted"
    assert [h[:3] for h in await history_of(db, record.id)][-2:] == [
        ("expire", "invited", "expired"), ("purge", "expired", "deleted"),
    ]
    assert {h[3] for h in (await history_of(db, record.id))[-2:]} == {"system:timer"}
    # The purge timer that entering "expired" started was cancelled by the final state.
    pending = await db.fetch(Timer.select(Timer.event).where((Timer.instance == record.id) & (Timer.status == "pending")))
    assert pending == []


async def test_the_first_event_of_a_new_instance_is_followed_by_its_automatic_step(db, clock, tmp_path):
    registry = copy_registry(tmp_path, make_automatic("expire"))  # an invitation that expires at once
    await flow_snapshots.sync(db, registry)
    service = FlowService(db, registry, clock)
    factory = Factory(db, service)
    started = await factory.invite()
    organisation_id = await factory.organisation()
    invited = await invite(service, organisation_id, Person("Frau", "Ada", "Muster", "ada@example.org"), "admin:1", "", None)

    for record in (started, invited):
        assert (record.state, record.version) == ("expired", 2)
        assert await instance(db, record.id) == {"state": "expired", "version": 2}
        assert [h[:3] for h in await history_of(db, record.id)] == [
            ("invite", "new", "invited"), ("expire", "invited", "expired"),
        ]
