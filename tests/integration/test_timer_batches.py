"""The sweep fires a batch of timers in one transaction with set-based statements. One
timer the database refuses (here: a trigger refusing its mail) or whose event cannot
run (its flow version is missing) must not stop the others: they fire once, the failing
one stays pending and is reported. The rows a batch writes are those the one-timer-at-a-
time path writes."""

from __future__ import annotations

import asyncio
import json

import pytest

from db.engine import Database
from db.tables import FlowInstance, Outbox, Timer, TransitionHistory
from jobs.timers import PLAN_YIELD_EVERY, TIMER_CLAIM_LEASE, _claim_and_load, _plan, fire_due_timers
from tests.support.environment import ENGINE
from workflows.service import FlowService

PROFILE = {"first_name": "Bernhard", "last_name": "Tester"}
REMINDER_DUE_HOURS = 73  # remind_inactive falls due 72 h after the invitation


async def events_of(db, instance_id) -> list[str]:
    rows = await db.fetch(
        TransitionHistory.select(TransitionHistory.event)
        .where(TransitionHistory.instance == instance_id)
        .order_by(TransitionHistory.id)
    )
    return [r["event"] for r in rows]


async def mails_of(db, instance_id) -> list[str]:
    rows = await db.fetch(Outbox.select(Outbox.kind).where(Outbox.instance == instance_id).order_by(Outbox.id))
    return [r["kind"] for r in rows]


async def timer_of(db, instance_id, event) -> dict:
    return await db.fetch_one(
        Timer.select(Timer.id, Timer.status).where((Timer.instance == instance_id) & (Timer.event == event))
    )


class RefusedMail:
    """A database trigger that refuses every outbox row of one instance: a write the
    database turns down for one timer of a batch, as a constraint would."""

    def __init__(self, db, instance_id: int):
        self.db, self.instance_id = db, instance_id

    async def __aenter__(self):
        if ENGINE == "postgres":
            await self.db.write([Outbox.raw(
                "CREATE FUNCTION refuse_test_mail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.instance = {int(self.instance_id)} THEN RAISE EXCEPTION 'mail refused for the test'; END IF; "
                "RETURN NEW; END $$"
            )])
            await self.db.write([Outbox.raw(
                "CREATE TRIGGER refuse_test_mail BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_test_mail()"
            )])
        else:
            await self.db.write([Outbox.raw(
                f"CREATE TRIGGER refuse_test_mail BEFORE INSERT ON outbox WHEN NEW.instance = {int(self.instance_id)} "
                "BEGIN SELECT RAISE(ABORT, 'mail refused for the test'); END"
            )])
        return self

    async def __aexit__(self, *exc_info):
        await self.db.write([Outbox.raw("DROP TRIGGER refuse_test_mail" + (" ON outbox" if ENGINE == "postgres" else ""))])
        if ENGINE == "postgres":
            await self.db.write([Outbox.raw("DROP FUNCTION refuse_test_mail()")])


async def test_a_refused_timer_stays_pending_and_the_rest_of_its_batch_fires_once(factory, service, db, clock):
    records = [await factory.invite() for _ in range(7)]
    victim = records[3]
    clock.advance(hours=REMINDER_DUE_HOURS)
    async with RefusedMail(db, victim.id):
        result = await fire_due_timers(service, batch_size=50)  # all seven in one batch
    victim_timer = await timer_of(db, victim.id, "remind_inactive")
    assert (result.fired, result.cancelled, result.conflicts, result.failed) == (6, 0, 0, [victim_timer["id"]])
    for record in records:
        if record is not victim:
            assert await events_of(db, record.id) == ["invite", "remind_inactive"]
            assert await mails_of(db, record.id) == ["invitation", "reminder"]
    assert await events_of(db, victim.id) == ["invite"]
    assert await mails_of(db, victim.id) == ["invitation"]
    assert victim_timer["status"] == "pending"

    # It stays with this sweep's claim until the lease ends, then fires once.
    clock.advance(seconds=TIMER_CLAIM_LEASE.total_seconds() - 1)
    assert (await fire_due_timers(service)).fired == 0
    clock.advance(seconds=1)
    again = await fire_due_timers(service)
    assert (again.fired, again.failed) == (1, [])
    for record in records:
        assert await events_of(db, record.id) == ["invite", "remind_inactive"]
        assert await mails_of(db, record.id) == ["invitation", "reminder"]


async def test_a_timer_whose_event_cannot_run_does_not_stop_its_batch(factory, service, db, clock):
    records = [await factory.invite() for _ in range(5)]
    broken = records[1]
    # Its flow version was never stored (e.g. a botched manual edit): its machine cannot be built.
    await db.write([FlowInstance.update({FlowInstance.flow_version: 999}).where(FlowInstance.id == broken.id)])
    clock.advance(hours=REMINDER_DUE_HOURS)
    result = await fire_due_timers(service, batch_size=50)
    broken_timer = await timer_of(db, broken.id, "remind_inactive")
    assert (result.fired, result.failed) == (4, [broken_timer["id"]])
    assert broken_timer["status"] == "pending"
    assert await events_of(db, broken.id) == ["invite"]
    for record in records:
        if record is not broken:
            assert await events_of(db, record.id) == ["invite", "remind_inactive"]


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


async def _fired_rows(db, instance_ids: list[int]) -> list[dict]:
    """What the sweep wrote for these instances, without ids and with times relative to
    each instance's start, in a form two runs at different times can be compared in."""
    result = []
    for instance_id in instance_ids:
        instance = await db.fetch_one(FlowInstance.select().where(FlowInstance.id == instance_id))
        start = instance["created_at"]
        timers = await db.fetch(Timer.select().where(Timer.instance == instance_id).order_by(Timer.id))
        timer_events = {t["id"]: t["event"] for t in timers}
        history = await db.fetch(
            TransitionHistory.select().where(TransitionHistory.instance == instance_id)
            .order_by(TransitionHistory.id)
        )
        mails = await db.fetch(Outbox.select().where(Outbox.instance == instance_id).order_by(Outbox.id))
        result.append({
            "instance": (instance["state"], instance["version"], _json(instance["context"]), instance["updated_at"] - start),
            "history": [
                (h["event"], h["from_state"], h["to_state"], h["actor"], h["client_ip"], h["created_at"] - start,
                 {k: (timer_events[v] if k == "timer" else v) for k, v in _json(h["details"]).items()})
                for h in history
            ],
            "outbox": [(m["kind"], m["recipient"] != "", _json(m["payload"]), m["status"], m["created_at"] - start) for m in mails],
            "timers": [
                (t["event"], t["status"], t["due_at"] - start, None if t["fired_at"] is None else t["fired_at"] - start)
                for t in timers
            ],
        })
    return result


async def _run_group(factory, service, clock, batch_size: int) -> tuple[list[int], list]:
    """Four invitations (two with their personal data entered an hour later) left alone
    until every timer fired: reminders, expiry, and the purge 30 days after it."""
    records = [await factory.invite() for _ in range(4)]
    clock.advance(hours=1)
    for record in records[:2]:
        await service.send(record.id, "complete_profile", data=PROFILE)
    results = []
    for hours in (2000, 800):  # everything up to the expiry is overdue, then the purge
        clock.advance(hours=hours)
        results.append(await fire_due_timers(service, batch_size=batch_size))
    return [r.id for r in records], results


async def test_a_batch_writes_the_rows_of_the_one_timer_at_a_time_path(factory, service, db, clock):
    one_at_a_time, singles = await _run_group(factory, service, clock, batch_size=1)
    batched_ids, batches = await _run_group(factory, service, clock, batch_size=500)

    assert [(r.fired, r.cancelled, r.failed) for r in batches] == [(r.fired, r.cancelled, []) for r in singles]
    assert singles[0].fired >= 2 * len(one_at_a_time) and singles[1].fired == len(one_at_a_time)
    expected = await _fired_rows(db, one_at_a_time)
    assert await _fired_rows(db, batched_ids) == expected
    assert [row["instance"][0] for row in expected] == ["deleted"] * 4


@pytest.mark.postgres
async def test_two_concurrent_sweepers_fire_each_timer_once_around_a_refused_one(factory, registry, clock, database_url, db):
    records = [await factory.invite() for _ in range(60)]
    victim = records[17]
    clock.advance(hours=REMINDER_DUE_HOURS)
    handles = [Database(database_url), Database(database_url)]
    for handle in handles:
        await handle.start(pool_size=2)
    try:
        sweepers = [FlowService(handle, registry, clock) for handle in handles]
        async with RefusedMail(db, victim.id):
            results = await asyncio.gather(*[fire_due_timers(s, batch_size=8) for s in sweepers])
    finally:
        for handle in handles:
            await handle.close()
    victim_timer = await timer_of(db, victim.id, "remind_inactive")
    assert sum(r.fired for r in results) == 59
    assert sorted(t for r in results for t in r.failed) == [victim_timer["id"]]
    assert all(r.fired for r in results)  # both took part: the claims split the timers between them
    for record in records:
        expected = ["invite"] if record is victim else ["invite", "remind_inactive"]
        assert await events_of(db, record.id) == expected
        assert await mails_of(db, record.id) == [kind for kind in ("invitation", "reminder")][: len(expected)]
    assert victim_timer["status"] == "pending"


async def test_planning_a_batch_lets_the_process_do_other_work_in_between(factory, service, db, clock):
    """Planning a batch is Python without I/O. It pauses every PLAN_YIELD_EVERY timers, so
    neither the write of the batch before (one statement per turn of the event loop) nor
    the requests of a process that also sweeps wait for the whole plan."""
    count = 2 * PLAN_YIELD_EVERY + 1
    for _ in range(count):
        await factory.invite()
    clock.advance(hours=REMINDER_DUE_HOURS)
    claimed = await _claim_and_load(db, clock.now(), count)
    assert len(claimed.timers) == count

    turns, planning = 0, True

    async def other_work():
        nonlocal turns
        while planning:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.ensure_future(other_work())
    await asyncio.sleep(0)  # it has started and waits for its next turn
    before = turns
    planned = await _plan(service, claimed)
    during, planning = turns - before, False
    await other

    assert planned.result.fired == count
    assert during == 3  # a turn before timers 1, 51 and 101; the flow version is known, so no I/O


async def test_the_next_claim_is_asked_for_while_the_batch_before_is_written(factory, service, db, clock, monkeypatch):
    """The sweep asks for the claim after next before it waits for the batch being written,
    so that on SQLite the database thread goes from one write to the next claim without
    waiting for this process (docs/benchmarks.md, "round 10"). Five timers in batches of
    two: while the first batch's write is held, the third batch is claimed already."""
    from jobs import timers

    for _ in range(5):
        await factory.invite()
    clock.advance(hours=REMINDER_DUE_HOURS)
    real_claim, real_write = timers._claim_and_load, timers._write
    claims, first_write_entered, release_first_write, third_claim = 0, asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def counted_claim(*args):
        nonlocal claims
        claims += 1
        if claims == 3:
            third_claim.set()
        return await real_claim(*args)

    async def held_write(service, planned):
        if not first_write_entered.is_set():
            first_write_entered.set()
            await release_first_write.wait()
        return await real_write(service, planned)

    monkeypatch.setattr(timers, "_claim_and_load", counted_claim)
    monkeypatch.setattr(timers, "_write", held_write)
    sweep = asyncio.ensure_future(fire_due_timers(service, batch_size=2))
    try:
        await asyncio.wait_for(first_write_entered.wait(), 10)
        await asyncio.wait_for(third_claim.wait(), 10)
        assert not sweep.done()
    finally:
        release_first_write.set()
        await asyncio.wait([sweep], timeout=30)  # ends before the database closes, also on failure
    result = sweep.result()
    assert (result.fired, result.conflicts, result.failed) == (5, 0, [])
    fired = await db.fetch(Timer.select(Timer.id).where((Timer.event == "remind_inactive") & (Timer.status == "fired")))
    assert len(fired) == 5


async def test_a_write_that_fails_mid_sweep_leaves_the_claimed_batches_to_their_lease(factory, service, db, clock, monkeypatch):
    """The database goes away while the first batch is written. By then the second batch
    is claimed and planned and the third claim asked for: the sweep ends with the error
    once that claim has ended too, nothing fired, and after the lease the next sweep fires
    every timer exactly once."""
    from db.outage import DatabaseUnavailable
    from jobs import timers

    for _ in range(5):
        await factory.invite()
    clock.advance(hours=REMINDER_DUE_HOURS)
    real_write = timers._write
    writes = 0

    async def failing_first_write(service, planned):
        nonlocal writes
        writes += 1
        if writes == 1:
            await asyncio.sleep(0)  # the next claim is on its way meanwhile
            raise DatabaseUnavailable("connection lost")
        return await real_write(service, planned)

    monkeypatch.setattr(timers, "_write", failing_first_write)
    with pytest.raises(DatabaseUnavailable):
        await fire_due_timers(service, batch_size=2)
    pending = await db.fetch(Timer.select(Timer.id, Timer.claimed_until).where(
        (Timer.event == "remind_inactive") & (Timer.status == "pending")))
    assert [t["claimed_until"] for t in pending] == [clock.now() + TIMER_CLAIM_LEASE] * 5  # three batches, none fired
    assert await fire_due_timers(service, batch_size=2) == timers.SweepResult()  # still theirs

    clock.advance(seconds=TIMER_CLAIM_LEASE.total_seconds())
    assert await fire_due_timers(service, batch_size=2) == timers.SweepResult(fired=5)
    fired = await db.fetch(Timer.select(Timer.id).where((Timer.event == "remind_inactive") & (Timer.status == "fired")))
    assert len(fired) == 5
    for instance in await db.fetch(FlowInstance.select(FlowInstance.id)):
        assert (await events_of(db, instance["id"])).count("remind_inactive") == 1
