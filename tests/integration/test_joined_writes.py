"""On PostgreSQL, neighbouring steps of a write that each write another table run as one
statement (data-modifying WITH queries, `db.engine.Database.write`). These tests hold on
both engines: the write stays all or nothing, a lost race is still a conflict, a step
sees what the steps before it wrote to its own table, and what comes after the joined
steps sees all of them. On PostgreSQL they also count the round trips."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from asyncpg.connection import Connection

from db.batching import insert, update_in
from db.engine import ConflictError, Deferred, Sql, Step
from db.tables import FlowInstance, Outbox, Timer, TransitionHistory
from tests.support.environment import ENGINE
from workflows.invitations import Person, invite
from workflows.roles import EventOf

OUTBOX_COLUMNS = ("organisation", "instance", "kind", "recipient", "payload", "status", "attempts",
                  "next_attempt_at", "last_error", "created_at", "sent_at")


@contextlib.contextmanager
def round_trips():
    """Counts the statements sent to PostgreSQL (the real driver still sends them)."""
    sent: list[str] = []
    methods = {name: getattr(Connection, name) for name in ("fetch", "fetchrow", "execute")}

    def counting(method):
        async def call(self, query, *args, **kwargs):
            sent.append(query)
            return await method(self, query, *args, **kwargs)

        return call

    for name, method in methods.items():
        setattr(Connection, name, counting(method))
    try:
        yield sent
    finally:
        for name, method in methods.items():
            setattr(Connection, name, method)


def version_check(instance_id: int, version: int, now) -> Step:
    """The version-checked state update of a transition (counted, joinable)."""
    if ENGINE == "postgres":
        query = Sql(FlowInstance, 'UPDATE "flow_instance" SET "version" = "version" + 1, "updated_at" = {} '
                                  'WHERE "id" = ANY({}::int[]) AND "version" = {}', now, [instance_id], version)
    else:
        query = Sql(FlowInstance, 'UPDATE "flow_instance" SET "version" = "version" + 1, "updated_at" = {} '
                                  'WHERE "id" = {} AND "version" = {}', now, instance_id, version)
    return Step(query, expect_rows=1, counted=True, joinable=True)


def mail(record, kind: str, now) -> list[Step]:
    return insert(Outbox, OUTBOX_COLUMNS, [(record.organisation_id, record.id, kind, "a@example.org", "{}",
                                            "pending", 0, now, "", now, None)], returning=False)


async def counts(db, instance_id: int) -> tuple[int, int, int]:
    history = await db.fetch(TransitionHistory.select(TransitionHistory.id).where(TransitionHistory.instance == instance_id))
    mails = await db.fetch(Outbox.select(Outbox.id).where(Outbox.instance == instance_id))
    timers = await db.fetch(Timer.select(Timer.id).where(Timer.instance == instance_id))
    return len(history), len(mails), len(timers)


async def test_a_lost_race_among_joined_steps_writes_nothing(db, factory, clock):
    record = await factory.invite()
    before = await counts(db, record.id)
    now = clock.now()
    timer = insert(Timer, ("instance", "event", "due_at", "status", "fired_at"),
                   [(record.id, "probe", now + timedelta(days=1), "pending", None)], returning=False)
    with pytest.raises(ConflictError):
        # The version read was 0, the row is at 1: someone else got there first.
        await db.write([*mail(record, "probe", now), version_check(record.id, 0, now), *timer])
    assert await counts(db, record.id) == before
    row = await db.fetch_one(FlowInstance.select(FlowInstance.version).where(FlowInstance.id == record.id))
    assert row["version"] == record.version


async def test_a_refused_row_among_joined_steps_writes_nothing(db, factory, clock):
    record = await factory.invite()
    before = await counts(db, record.id)
    now = clock.now()
    broken = insert(Timer, ("instance", "event", "due_at", "status", "fired_at"),
                    [(record.id + 10_000, "probe", now, "pending", None)], returning=False)  # no such instance
    refusal = {"postgres": "violates foreign key constraint", "sqlite": "FOREIGN KEY constraint failed"}[ENGINE]
    with pytest.raises(Exception, match=refusal):
        await db.write([version_check(record.id, record.version, now), *mail(record, "probe", now), *broken])
    assert await counts(db, record.id) == before


async def test_a_step_sees_what_the_steps_before_it_wrote_to_its_own_table(db, factory, clock):
    """The anonymisation of mails updates rows the same write inserted: not joined."""
    record = await factory.invite()
    now = clock.now()
    blank = update_in(Outbox, 'UPDATE "outbox" SET "recipient" = {} WHERE "outbox"."instance" IN ({ids})', [""], [record.id])
    await db.write([version_check(record.id, record.version, now), *mail(record, "probe", now), *blank])
    rows = await db.fetch(Outbox.select(Outbox.kind, Outbox.recipient).where(Outbox.instance == record.id))
    assert {(r["kind"], r["recipient"]) for r in rows} == {("invitation", ""), ("probe", "")}


async def test_what_comes_after_joined_steps_sees_them_and_their_empty_results(db, factory, clock):
    record = await factory.invite()
    now = clock.now()
    seen = []

    def read_back(results) -> list[Step]:
        seen.append(results[1:])  # the two joined steps return no rows
        return [Step(Outbox.select(Outbox.kind).where(Outbox.instance == record.id).order_by(Outbox.id))]

    results = await db.write([
        Step(FlowInstance.select(FlowInstance.id).where(FlowInstance.id == record.id)),
        version_check(record.id, record.version, now), *mail(record, "probe", now), Deferred(read_back),
    ])
    assert seen == [[[], []]]
    assert [row["kind"] for row in results[-1]] == ["invitation", "probe"]
    assert len(results) == 4


@pytest.mark.skipif(ENGINE != "postgres", reason="round trips are PostgreSQL's")
async def test_a_transition_writes_in_two_statements(db, factory, service):
    """Sending the invitation again: state, history, the old timers cancelled, new timers,
    the mail, the old links ended. The new timers cannot join the cancellation (both write
    `timer`): the cancellation must not see them."""
    record = await factory.invite()
    with round_trips() as sent:
        await service.send(record.id, EventOf("invitation_again"), actor="account:1")
    writes = [q for q in sent if q.lstrip().upper().startswith(("WITH", "INSERT", "UPDATE", "DELETE"))]
    assert len(writes) == 2, writes
    first, second = writes
    assert first.startswith('WITH w0 AS (UPDATE "flow_instance"')
    assert 'INSERT INTO "transition_history"' in first and 'UPDATE "timer" SET "status"' in first
    assert second.startswith('WITH w0 AS (INSERT INTO "timer"')
    assert 'INSERT INTO "outbox"' in second and 'UPDATE "invitation_link"' in second
    assert await counts(db, record.id) == (2, 2, 6)  # three timers cancelled, three new ones
    pending = await db.fetch(Timer.select(Timer.id).where((Timer.instance == record.id) & (Timer.status == "pending")))
    assert len(pending) == 3


@pytest.mark.skipif(ENGINE != "postgres", reason="round trips are PostgreSQL's")
async def test_an_invitation_takes_five_round_trips(factory, service):
    organisation = await factory.organisation()
    with round_trips() as sent:
        await invite(service, organisation, Person("Frau", "Anna", "Müller", "anna@example.org"), "admin@test", "", None)
    # BEGIN, the account, the instance, its history, timers, mail and funnel counts in
    # one statement, COMMIT (before: eight).
    assert len(sent) == 5, sent
