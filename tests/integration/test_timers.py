"""Timers fire by moving the injected clock; sweeps in several processes fire each
timer once; after downtime every overdue timer fires once."""

from __future__ import annotations

import asyncio

import pytest

from db.engine import Database
from db.tables import FlowInstance, Outbox, Timer, TransitionHistory
from jobs.timers import claim_due_timers_query, due_timers_query, fire_due_timers
from workflows.service import FlowService

PROFILE = {"first_name": "Bernhard", "last_name": "Tester"}


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


async def state_of(db, instance_id) -> str:
    return (await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == instance_id)))["state"]


async def test_an_invitation_expires_at_720_hours_not_before(factory, service, db, clock):
    record = await factory.invite()
    clock.advance(hours=720, seconds=-1)
    await fire_due_timers(service)
    assert await state_of(db, record.id) == "invited"
    clock.advance(seconds=1)
    result = await fire_due_timers(service)
    assert result.fired == 1
    assert await state_of(db, record.id) == "expired"
    assert await events_of(db, record.id) == ["invite", "remind_inactive", "remind_expiring", "expire"]
    assert await mails_of(db, record.id) == ["invitation", "reminder", "reminder", "invitation_expired"]


async def test_reminders_fire_once_each_at_their_time(factory, service, db, clock):
    record = await factory.invite()
    clock.advance(hours=71)
    assert (await fire_due_timers(service)).fired == 0
    clock.advance(hours=1)
    assert (await fire_due_timers(service)).fired == 1
    assert (await fire_due_timers(service)).fired == 0
    assert await mails_of(db, record.id) == ["invitation", "reminder"]


async def test_progress_cancels_the_inactivity_reminder(factory, service, db, clock):
    record = await factory.invite()
    clock.advance(hours=1)
    await service.send(record.id, "complete_profile", data=PROFILE)
    clock.advance(hours=100)
    await fire_due_timers(service)
    # remind_device (48 h after the profile) fired; remind_inactive never did.
    assert await events_of(db, record.id) == ["invite", "complete_profile", "remind_device"]
    assert await mails_of(db, record.id) == ["invitation", "registration_status"]


async def test_after_downtime_each_overdue_timer_fires_once(factory, service, db, clock):
    records = [await factory.invite() for _ in range(5)]
    clock.advance(hours=2000)  # the app was down for months
    result = await fire_due_timers(service, batch_size=4)
    assert result.fired == 15
    assert (await fire_due_timers(service)).fired == 0
    for record in records:
        assert await events_of(db, record.id) == ["invite", "remind_inactive", "remind_expiring", "expire"]
        assert await state_of(db, record.id) == "expired"
    pending = await db.fetch(Timer.select(Timer.event).where(Timer.status == "pending"))
    assert [p["event"] for p in pending] == ["purge"] * 5  # the data of expired invitations goes 30 days later


async def test_concurrent_sweeps_in_two_processes_fire_each_timer_once(factory, service, registry, clock, database_url, db):
    records = [await factory.invite() for _ in range(30)]
    clock.advance(hours=73)  # remind_inactive due for all
    handles = [Database(database_url), Database(database_url)]
    for handle in handles:
        await handle.start(pool_size=2)
    try:
        sweepers = [FlowService(handle, registry, clock) for handle in handles]
        results = await asyncio.gather(*[fire_due_timers(s, batch_size=7) for s in sweepers])
    finally:
        for handle in handles:
            await handle.close()
    assert sum(r.fired for r in results) == 30
    # They shared the due timers (claims, SKIP LOCKED on PostgreSQL) instead of racing for
    # the same ones and retrying the lost ones one at a time.
    assert sum(r.conflicts for r in results) == 0
    for record in records:
        assert await events_of(db, record.id) == ["invite", "remind_inactive"]
        assert await mails_of(db, record.id) == ["invitation", "reminder"]


async def test_a_timer_whose_event_is_no_longer_allowed_is_cancelled(factory, service, db, clock):
    record = await factory.invite()
    # Simulate an instance moved on by other means (e.g. a flow migration).
    await db.write([FlowInstance.update({FlowInstance.state: "registered"}).where(FlowInstance.id == record.id)])
    clock.advance(hours=80)
    result = await fire_due_timers(service)
    assert result.fired == 0 and result.cancelled == 1
    assert await state_of(db, record.id) == "registered"


@pytest.mark.sqlite_only
async def test_sqlite_poll_uses_the_partial_index(db, clock):
    plan = await db.explain(due_timers_query(clock.now(), 500))
    assert "USING INDEX timer_pending_due" in plan, plan


@pytest.mark.postgres
async def test_postgres_poll_keeps_order_by_and_the_index_in_a_generic_plan(db, clock):
    from db.tables import Timer as T

    record_rows = await db.fetch(FlowInstance.select(FlowInstance.id).limit(1))
    assert record_rows == []  # empty database; fill timers with raw SQL below
    await db.write([FlowInstance.raw("INSERT INTO organisation (name, created_at) VALUES ('Plan', now())")])
    await db.write(
        [
            FlowInstance.raw(
                "INSERT INTO flow_instance (organisation, flow_name, flow_version, state, version, context, created_at, updated_at) "
                "SELECT 1, 'onboarding', 1, 'invited', 1, json_build_object(), now(), now()"
            ),
            T.raw(
                "INSERT INTO timer (instance, event, due_at, status) "
                "SELECT 1, 'expire', now() + (g || ' minutes')::interval, CASE WHEN g % 10 = 0 THEN 'pending' ELSE 'fired' END "
                "FROM generate_series(1, 20000) g"
            ),
            T.raw("ANALYZE timer"),
        ]
    )
    query = claim_due_timers_query(clock.now(), 500, postgres=True)
    sql, args = query.querystrings[0].compile_string(engine_type="postgres")
    assert "FOR UPDATE SKIP LOCKED" in sql
    assert "ORDER BY" in sql and "due_at" in sql.split("ORDER BY")[1]
    async with db.engine.pool.acquire() as connection:
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        await connection.execute(f"PREPARE due_poll AS {sql}")
        placeholders = ", ".join(f"'{a.isoformat()}'" if hasattr(a, "isoformat") else str(a) for a in args)
        plan = await connection.fetch(f"EXPLAIN EXECUTE due_poll({placeholders})")
        await connection.execute("DEALLOCATE due_poll")
        await connection.execute("RESET plan_cache_mode")
    text = "\n".join(row[0] for row in plan)
    assert "timer_pending_due" in text, text
    assert "Seq Scan" not in text, text


async def test_personal_data_of_unfinished_invitations_is_removed_30_days_after_they_end(factory, service, db, clock):
    from db.tables import Account

    expired = await factory.invite(email="expired@example.org")
    revoked = await factory.invite(email="revoked@example.org")
    await service.send(revoked.id, "revoke")
    clock.advance(hours=720)
    await fire_due_timers(service)
    assert await state_of(db, expired.id) == "expired"
    clock.advance(days=30, seconds=-1)
    await fire_due_timers(service)
    assert await state_of(db, expired.id) == "expired"  # not yet for the one that expired later
    assert await state_of(db, revoked.id) == "deleted"
    clock.advance(seconds=1)
    await fire_due_timers(service)
    assert await state_of(db, expired.id) == "deleted"
    emails = [a["email"] for a in await db.fetch(Account.select(Account.email))]
    assert not any(e in ("expired@example.org", "revoked@example.org") for e in emails)
    history = await db.fetch(TransitionHistory.select().where(TransitionHistory.instance == expired.id))
    assert [h["event"] for h in history][-1] == "purge" and "expired@example.org" not in str(history)
