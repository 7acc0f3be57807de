"""PostgreSQL wakes the processes (issue 12): the triggers of m0026 send a NOTIFY at
commit, one LISTEN connection per process hears it and wakes the live feed and the timer
sweep at once. Every listener here has a fallback of an hour, so what arrives within the
test's bound was woken by a notification, not by a poll. A killed listening connection
is re-opened, and the change made while it was down reaches the feed through the one
poll after reconnecting."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.clock import FrozenClock, SystemClock
from db.engine import Database, Sql
from db.tables import Outbox, Timer, TransitionHistory
from db.wakeups import ALL, LIVE, OUTBOX, TIMER, WakeUps
from jobs.scheduler import create_scheduler
from tests.support.tcp_proxy import TcpProxy
from web.live import ChangeFeed
from workflows.service import FlowService

pytestmark = pytest.mark.postgres

# Bounds for a hung test, not expectations of speed: every wait ends when its event comes.
WAIT = 30
NO_FALLBACK = 3600  # the longest fallback there is: nothing in these tests waits for it


class Heard:
    """What a WakeUps instance calls back with, per kind, in a queue."""

    def __init__(self, wakeups: WakeUps, *kinds: str):
        self.queues = {kind: asyncio.Queue() for kind in kinds}
        for kind, queue in self.queues.items():
            wakeups.on(kind, queue.put_nowait)

    async def next(self, kind: str) -> str:
        return await asyncio.wait_for(self.queues[kind].get(), WAIT)


async def listening(wakeups: WakeUps) -> None:
    await wakeups.start()
    await asyncio.wait_for(wakeups.listening.wait(), WAIT)


async def test_a_commit_notifies_transition_outbox_and_timer_once_each(database_url, factory, db):
    wakeups = WakeUps(database_url, NO_FALLBACK)
    heard = Heard(wakeups, LIVE, OUTBOX, TIMER)
    await listening(wakeups)
    try:
        # Connecting rings everyone once ("poll now"): nothing can have been missed before.
        assert [await heard.next(kind) for kind in (LIVE, OUTBOX, TIMER)] == [ALL, ALL, ALL]
        organisation = await factory.organisation()
        person = await factory.invite(organisation)  # history, invitation mail, three timers: one commit
        assert await heard.next(LIVE) == str(organisation)
        first_due = min(r["due_at"] for r in await db.fetch(
            Timer.select(Timer.due_at).where(Timer.instance == person.id)))
        assert float(await heard.next(TIMER)) == first_due.timestamp()
        mail_due = (await db.fetch(Outbox.select(Outbox.next_attempt_at).where(Outbox.instance == person.id)))[0]
        assert float(await heard.next(OUTBOX)) == mail_due["next_attempt_at"].timestamp()
    finally:
        await wakeups.stop()


async def test_a_statement_naming_too_many_organisations_says_all(database_url, factory, db):
    """NOTIFY payloads must stay below 8000 bytes: one statement writing history for
    ~2 000 organisations cannot name them all, and wakes every feed instead."""
    wakeups = WakeUps(database_url, NO_FALLBACK)
    heard = Heard(wakeups, LIVE)
    await listening(wakeups)
    person = await factory.invite()
    try:
        assert await heard.next(LIVE) == ALL  # the connect
        assert await heard.next(LIVE) == str(person.organisation_id)
        await db.write([Sql(
            TransitionHistory,
            "INSERT INTO organisation (name) SELECT 'Viele ' || n FROM generate_series(1, 2000) AS n",
        ), Sql(
            TransitionHistory,
            "INSERT INTO transition_history (instance, organisation, event, from_state, to_state, actor, client_ip, details, created_at) "
            "SELECT {}, id, 'note', 'invited', 'invited', 'test', '', {}, now() FROM organisation WHERE name LIKE 'Viele %'",
            person.id, "{}",
        )])
        assert await heard.next(LIVE) == ALL
    finally:
        await wakeups.stop()


async def test_a_commit_wakes_the_live_feed_without_waiting_for_its_poll(database_url, registry, factory, db):
    mine, theirs = await factory.invite(), await factory.invite()
    wakeups = WakeUps(database_url, NO_FALLBACK)
    await listening(wakeups)
    feed = ChangeFeed(db, wakeups=wakeups)
    queue = feed.subscribe(mine.organisation_id)
    other_process = Database(database_url)
    await other_process.start(pool_size=2)
    try:
        await asyncio.wait_for(feed.ready.wait(), WAIT)
        other = FlowService(other_process, registry, SystemClock())
        await other.send(theirs.id, "remind_inactive")  # another organisation: no news for this feed
        await other.send(mine.id, "complete_profile", data={"first_name": "A", "last_name": "B"})
        assert await asyncio.wait_for(queue.get(), WAIT) == mine.id
        assert queue.empty()
    finally:
        feed.unsubscribe(mine.organisation_id, queue)
        await feed.stop()
        await wakeups.stop()
        await other_process.close()


async def test_a_newly_due_timer_wakes_the_sweep(database_url, registry, factory, db):
    """The scheduler's sweep waits an hour between polls; a timer written already due
    (an invitation made 73 h ago by another process's clock) fires at once."""
    wakeups = WakeUps(database_url, NO_FALLBACK)
    heard = Heard(wakeups, LIVE)
    await listening(wakeups)
    service = FlowService(db, registry, SystemClock())
    scheduler = create_scheduler(service, NO_FALLBACK, 100, wakeups=wakeups)
    scheduler.start()
    try:
        assert await heard.next(LIVE) == ALL
        organisation = await factory.organisation()
        long_ago = FlowService(db, registry, FrozenClock(SystemClock().now() - timedelta(hours=73)))
        account = await factory.account(organisation)
        person, _ = await long_ago.start("onboarding", organisation, account, actor="admin@test", recipient="x@example.org")
        assert await heard.next(LIVE) == str(organisation)  # the invitation
        assert await heard.next(LIVE) == str(organisation)  # the sweep fired its due reminder
        history = await db.fetch(TransitionHistory.select(TransitionHistory.event)
                                 .where(TransitionHistory.instance == person.id).order_by(TransitionHistory.id))
        assert [row["event"] for row in history][-1] == "remind_inactive"
    finally:
        scheduler.shutdown(wait=False)
        await wakeups.stop()


async def test_a_killed_listener_reconnects_and_polls_once_for_what_it_missed(database_url, registry, factory, db):
    """pg_terminate_backend kills the LISTEN connection; while it cannot reconnect (a proxy
    refuses), a change commits and its NOTIFY reaches nobody; after reconnecting, the feed
    polls once and delivers it. Its own poll would come only after an hour."""
    person = await factory.invite()
    proxy = TcpProxy.for_database(database_url)
    await proxy.start()
    wakeups = WakeUps(proxy.url(database_url), NO_FALLBACK)
    await listening(wakeups)
    feed = ChangeFeed(db, wakeups=wakeups)
    queue = feed.subscribe(person.organisation_id)
    try:
        await asyncio.wait_for(feed.ready.wait(), WAIT)
        assert wakeups.connections == 1
        await proxy.pause()
        killed = await db.fetch(Sql(TransitionHistory, "SELECT pg_terminate_backend({}) AS killed", wakeups.server_pid))
        assert killed == [{"killed": True}]
        await asyncio.wait_for(wakeups.down.wait(), WAIT)
        await FlowService(db, registry, SystemClock()).send(person.id, "remind_inactive")
        await proxy.start(port=proxy.port)
        assert await asyncio.wait_for(queue.get(), WAIT) == person.id
        assert wakeups.connections == 2
    finally:
        feed.unsubscribe(person.organisation_id, queue)
        await feed.stop()
        await wakeups.stop()
        await proxy.cut()
