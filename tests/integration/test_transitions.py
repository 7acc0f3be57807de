"""A transition writes state, history, timers and outbox together or not at all,
and two concurrent transitions of one instance never both win."""

from __future__ import annotations

import asyncio

import pytest

from db import instances, transitions
from db.engine import ConflictError, Database, Step
from db.transitions import Change
from db.tables import FlowInstance, Outbox, Timer, TransitionHistory
from workflows import actions as actions_module
from workflows.registry import FlowRegistry
from workflows.service import FlowService, InstanceNotFound, TransitionConflict

PROFILE = {"first_name": "Bernhard", "last_name": "Tester"}


async def snapshot(db, instance_id):
    """Everything a transition may write for one instance."""
    return {
        "instance": await db.fetch_one(
            FlowInstance.select(FlowInstance.state, FlowInstance.version, FlowInstance.context).where(FlowInstance.id == instance_id)
        ),
        "history": await db.fetch(TransitionHistory.select(TransitionHistory.event).where(TransitionHistory.instance == instance_id)),
        "timers": await db.fetch(
            Timer.select(Timer.event, Timer.status, Timer.due_at).where(Timer.instance == instance_id).order_by(Timer.id)
        ),
        "outbox": await db.fetch(Outbox.select(Outbox.kind).where(Outbox.instance == instance_id)),
    }


async def test_invite_writes_instance_history_timers_and_outbox_in_one_go(factory, db, clock):
    record = await factory.invite(email="b.tester@abc.de")
    state = await snapshot(db, record.id)
    assert state["instance"]["state"] == "invited" and state["instance"]["version"] == 1
    assert [h["event"] for h in state["history"]] == ["invite"]
    assert {t["event"] for t in state["timers"] if t["status"] == "pending"} == {"expire", "remind_inactive", "remind_expiring"}
    expire = next(t for t in state["timers"] if t["event"] == "expire")
    assert (expire["due_at"] - clock.now()).total_seconds() == 720 * 3600
    outbox = await db.fetch(Outbox.select(Outbox.kind, Outbox.recipient, Outbox.status).where(Outbox.instance == record.id))
    assert outbox == [{"kind": "invitation", "recipient": "b.tester@abc.de", "status": "pending"}]


async def test_a_failing_action_writes_nothing(factory, db, service, monkeypatch):
    record = await factory.invite()
    await service.send(record.id, "complete_profile", data=PROFILE)
    before = await snapshot(db, record.id)

    def explode(effects, argument):
        raise RuntimeError("mail template missing")

    monkeypatch.setitem(actions_module.ACTIONS, "send_mail", actions_module.ActionSpec(explode, lambda a: None))
    with pytest.raises(RuntimeError, match="mail template missing"):
        await service.send(record.id, "activate_device")
    assert await snapshot(db, record.id) == before


async def test_a_failing_statement_rolls_back_the_whole_transition(factory, db, service, monkeypatch):
    record = await factory.invite()
    before = await snapshot(db, record.id)
    real_effect_steps = transitions.effect_steps

    def with_a_broken_statement(changes, now, **options):
        # A timer for an instance that does not exist violates the foreign key,
        # after the state update and the history row were already executed.
        broken = Step(Timer.insert(Timer(instance=999_999, event="expire", due_at=now, status="pending")))
        return real_effect_steps(changes, now, **options) + [broken]

    monkeypatch.setattr(transitions, "effect_steps", with_a_broken_statement)
    with pytest.raises(Exception) as error:
        await service.send(record.id, "complete_profile", data=PROFILE)
    assert "foreign key" in str(error.value).lower()
    assert await snapshot(db, record.id) == before


async def test_two_concurrent_transitions_of_one_instance_exactly_one_wins(factory, database_url, service):
    record = await factory.invite()
    flow = service.flow_of(record)
    # Two processes: each its own database handle; both read version 1, then both write.
    first, second = Database(database_url), Database(database_url)
    await first.start(pool_size=2)
    await second.start(pool_size=2)
    try:
        loaded = [await instances.load(db, record.id) for db in (first, second)]
        now = service.clock.now()
        changes = [
            Change(r, flow.run(r.state, "remind_inactive", now, context=r.context)) for r in loaded
        ]
        results = await asyncio.gather(
            first.write(transitions.change_steps([changes[0]], now)),
            second.write(transitions.change_steps([changes[1]], now)),
            return_exceptions=True,
        )
    finally:
        await first.close()
        await second.close()
    assert sum(isinstance(r, ConflictError) for r in results) == 1, results
    assert sum(not isinstance(r, BaseException) for r in results) == 1, results
    after = await snapshot(service.db, record.id)
    assert after["instance"]["version"] == 2
    assert [h["event"] for h in after["history"]] == ["invite", "remind_inactive"]
    assert [o["kind"] for o in after["outbox"]] == ["invitation", "reminder"]


async def test_the_service_reports_a_lost_race_as_a_conflict(factory, service, db, monkeypatch):
    record = await factory.invite()
    stale = await instances.load(db, record.id)
    await service.send(record.id, "remind_inactive")
    now = service.clock.now()
    change = Change(stale, service.flow_of(stale).run(stale.state, "remind_inactive", now))
    with pytest.raises(ConflictError):
        await db.write(transitions.change_steps([change], now))

    async def stale_read(*args, **kwargs):
        return stale

    monkeypatch.setattr(instances, "load", stale_read)
    with pytest.raises(TransitionConflict, match="nothing was written"):
        await service.send(record.id, "remind_inactive")


async def test_many_parallel_sends_never_lose_an_update(factory, service, db):
    record = await factory.invite()
    results = await asyncio.gather(
        *[service.send(record.id, "remind_inactive") for _ in range(10)], return_exceptions=True
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    assert all(isinstance(r, TransitionConflict) for r in results if isinstance(r, BaseException))
    after = await snapshot(db, record.id)
    # Every win is recorded, every loss left no trace.
    assert after["instance"]["version"] == 1 + len(wins)
    assert len(after["history"]) == 1 + len(wins)
    assert len(after["outbox"]) == 1 + len(wins)


async def test_other_organisations_instances_are_not_found(factory, service):
    record = await factory.invite()
    other_org = await factory.organisation()
    with pytest.raises(InstanceNotFound):
        await service.send(record.id, "revoke", organisation_id=other_org)
    _, outcome = await service.send(record.id, "revoke", organisation_id=record.organisation_id)
    assert outcome.target == "revoked"


async def test_history_records_actor_and_client_ip_but_no_event_data(factory, service, db):
    record = await factory.invite()
    await service.send(
        record.id, "complete_profile", actor="invitee", client_ip="192.0.2.7",
        data={**PROFILE, "activation_code": "27480323"},
    )
    rows = await db.fetch(
        TransitionHistory.select().where(TransitionHistory.instance == record.id).order_by(TransitionHistory.id)
    )
    last = rows[-1]
    assert (last["event"], last["from_state"], last["to_state"]) == ("complete_profile", "invited", "in_progress")
    assert (last["actor"], last["client_ip"], last["organisation"]) == ("invitee", "192.0.2.7", record.organisation_id)
    assert "27480323" not in str(rows)


async def test_instances_keep_their_flow_version_after_the_file_changes(factory, db, service, clock, tmp_path):
    import yaml

    from workflows import flow_snapshots
    from workflows.registry import SHIPPED_FLOWS_DIR

    old_record = await factory.invite()
    data = yaml.safe_load((SHIPPED_FLOWS_DIR / "onboarding.yaml").read_text())
    data["version"] += 1
    data["timers"][0]["after"] = "336h"
    (tmp_path / "onboarding.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    registry = FlowRegistry.from_directory(tmp_path)
    await flow_snapshots.sync(db, registry)
    new_service = FlowService(db, registry, clock)

    new_record = await FlowService(db, registry, clock).start(
        "onboarding", old_record.organisation_id, None, recipient="new@example.org"
    )
    new_record = new_record[0]
    assert new_record.flow_version == old_record.flow_version + 1
    # A resend of the old invitation still uses the old version's 720 hours.
    await new_service.send(old_record.id, "resend")
    for record, hours in ((old_record, 720), (new_record, 336)):
        due = await db.fetch_one(
            Timer.select(Timer.due_at).where(
                (Timer.instance == record.id) & (Timer.event == "expire") & (Timer.status == "pending")
            )
        )
        assert (due["due_at"] - clock.now()).total_seconds() == hours * 3600


async def test_an_edited_file_without_a_new_version_is_refused(db, service, tmp_path):
    import yaml

    from workflows import flow_snapshots
    from workflows.definition import FlowDefinitionError
    from workflows.registry import SHIPPED_FLOWS_DIR

    data = yaml.safe_load((SHIPPED_FLOWS_DIR / "onboarding.yaml").read_text())
    data["timers"][0]["after"] = "336h"
    path = tmp_path / "onboarding.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(FlowDefinitionError, match="raise the version"):
        await flow_snapshots.sync(db, FlowRegistry.from_directory(tmp_path))


async def test_changed_translations_alone_update_the_stored_version_without_a_new_one(db, service, tmp_path):
    """Labels are no behaviour: a file whose only change is a translation keeps its
    version, and the stored text of that version follows it (also for a restart of
    another process with the same file); a German label changed the same way is refused."""
    import yaml

    from db.tables import FlowDefinitionSnapshot
    from workflows import flow_snapshots
    from workflows.definition import FlowDefinitionError
    from workflows.registry import SHIPPED_FLOWS_DIR

    data = yaml.safe_load((SHIPPED_FLOWS_DIR / "onboarding.yaml").read_text())
    data["states"]["invited"]["label"]["en"] = "Invitation sent"
    path = tmp_path / "onboarding.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    registry = FlowRegistry.from_directory(tmp_path)
    await flow_snapshots.sync(db, registry)
    await flow_snapshots.sync(db, FlowRegistry.from_directory(tmp_path))
    rows = await db.fetch(FlowDefinitionSnapshot.select().where(FlowDefinitionSnapshot.flow_name == "onboarding"))
    assert [(r["flow_version"], "Invitation sent" in r["text"]) for r in rows] == [(data["version"], True)]
    assert registry.current("onboarding").version == data["version"]

    data["states"]["invited"]["label"]["de"] = "Einladung verschickt"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(FlowDefinitionError, match="raise the version"):
        await flow_snapshots.sync(db, FlowRegistry.from_directory(tmp_path))


async def test_a_chain_of_outcomes_of_one_instance_is_written_in_one_transaction(factory, service, db):
    """What an event and the event that follows it at once write: both, in order, each
    version-checked against the one before (one WritePlan, one transaction)."""
    record = await factory.invite()
    batch = service.batch()
    between, _ = batch.send(record, "remind_inactive", actor="admin:1")
    after, _ = batch.send(between, "complete_profile", actor="admin:1", data=PROFILE)
    await service.write(batch)
    state = await snapshot(db, record.id)
    assert (after.state, after.version) == ("in_progress", 3)
    assert (state["instance"]["state"], state["instance"]["version"]) == ("in_progress", 3)
    assert [h["event"] for h in state["history"]] == ["invite", "remind_inactive", "complete_profile"]
    assert [o["kind"] for o in state["outbox"]] == ["invitation", "reminder"]


async def test_a_chain_that_lost_the_race_writes_nothing(factory, service, db):
    record = await factory.invite()
    stale = await instances.load(db, record.id)
    await service.send(record.id, "resend")
    before = await snapshot(db, record.id)
    batch = service.batch()
    between, _ = batch.send(stale, "remind_inactive")
    batch.send(between, "complete_profile", data=PROFILE)
    with pytest.raises(ConflictError):
        await service.write(batch)
    assert await snapshot(db, record.id) == before


async def test_a_new_instance_and_its_follow_up_are_written_in_one_transaction(factory, service, db):
    organisation = await factory.organisation()
    batch = service.batch()
    started, _ = batch.start("onboarding", organisation, None, "invite", recipient="neu@example.org")
    after, _ = batch.send(started, "remind_inactive")
    await service.write(batch)
    assert started.id == after.id != 0
    state = await snapshot(db, after.id)
    assert (state["instance"]["state"], state["instance"]["version"]) == ("invited", 2)
    assert [h["event"] for h in state["history"]] == ["invite", "remind_inactive"]
    assert [o["kind"] for o in state["outbox"]] == ["invitation", "reminder"]


async def test_a_timer_claimed_elsewhere_first_makes_the_whole_plan_a_conflict(factory, service, db, clock):
    """A timer is claimed in the transaction that applies its event: if another process
    claimed it in between, nothing of this plan is written."""
    record = await factory.invite()
    timer = await db.fetch_one(
        Timer.select(Timer.id, Timer.event).where((Timer.instance == record.id) & (Timer.event == "remind_inactive"))
    )
    batch = service.batch()
    assert batch.fire_timer(await instances.load(db, record.id), timer["id"], timer["event"]) == "fired"
    await db.write([Timer.update({Timer.status: "fired"}).where(Timer.id == timer["id"])])
    before = await snapshot(db, record.id)
    with pytest.raises(ConflictError):
        await service.write(batch)
    assert await snapshot(db, record.id) == before
