"""Live badges: a change made through another process's database handle reaches the
subscribers of that organisation, and only them; the stream says when it is ready."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from db.engine import Database
from tests.support.admin import login_session
from tests.support.server import running_server
from web.auth import SESSION_COOKIE
from web.i18n import LANGUAGE_COOKIE
from web.live import ChangeFeed
from workflows.service import FlowService

# Bounds for a hung test, not expectations of speed: every wait ends when its event comes.
WAIT_SECONDS = 10


async def next_item(queue: asyncio.Queue, timeout: float = WAIT_SECONDS):
    return await asyncio.wait_for(queue.get(), timeout)


async def next_event(lines) -> tuple[str, str]:
    """The next server-sent event as (name, data); comments (keep-alives) are skipped."""
    event, data = "", []
    while (line := await anext(lines)) != "" or not event:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))
    return event, "\n".join(data)


async def ready(feed: ChangeFeed) -> None:
    await asyncio.wait_for(feed.ready.wait(), WAIT_SECONDS)


async def test_changes_from_another_process_reach_only_their_organisation(factory, database_url, registry, clock, db):
    mine = await factory.invite()
    theirs = await factory.invite()
    feed = ChangeFeed(db, interval_seconds=0.05)
    my_queue = feed.subscribe(mine.organisation_id)
    their_queue = feed.subscribe(theirs.organisation_id)
    other_process = Database(database_url)
    await other_process.start(pool_size=2)
    try:
        await ready(feed)
        other = FlowService(other_process, registry, clock)
        await other.send(mine.id, "complete_profile", data={"first_name": "A", "last_name": "B"})
        assert await next_item(my_queue) == mine.id
        # A later change of their own: the feed hands out changes in commit order, so had
        # the first one reached them, it would come before this one.
        await other.send(theirs.id, "remind_inactive")
        assert await next_item(their_queue) == theirs.id
        assert their_queue.empty() and my_queue.empty()
    finally:
        await other_process.close()
        feed.unsubscribe(mine.organisation_id, my_queue)
        feed.unsubscribe(theirs.organisation_id, their_queue)
        await feed.stop()


async def test_overlapping_polls_deliver_each_change_once(factory, service, db):
    first = await factory.invite()
    feed = ChangeFeed(db, interval_seconds=3600)  # the test polls by hand
    queue = feed.subscribe(first.organisation_id)
    try:
        await ready(feed)  # the feed has read its starting point: nothing old is news
        await service.send(first.id, "remind_inactive")
        for _ in range(3):  # each poll looks back over earlier ids too
            await feed.poll()
        delivered = []
        while not queue.empty():
            delivered.append(queue.get_nowait())
        assert delivered == [first.id]
    finally:
        feed.unsubscribe(first.organisation_id, queue)
        await feed.stop()


async def test_a_ready_stream_misses_no_change(settings, factory, db, clock, service):
    """The stream's first event says the feed is subscribed and knows where the history
    stands; a change committed after it always arrives (what tests and clients wait for)."""
    person = await factory.invite()
    admin_id = await factory.account(person.organisation_id, role="admin")
    token = await login_session(db, clock, admin_id, person.organisation_id)
    with running_server(settings, clock) as base_url:
        async with httpx.AsyncClient(base_url=base_url, cookies={SESSION_COOKIE: token}, timeout=WAIT_SECONDS) as client:
            async with client.stream("GET", "/nutzerverwaltung/live") as stream:
                assert stream.status_code == 200
                lines = aiter(stream.aiter_lines())
                assert (await next_event(lines))[0] == "cursor"  # where the history stands (a resume point)
                assert await next_event(lines) == ("ready", "bereit")
                await service.send(person.id, "complete_profile", data={"first_name": "Wera", "last_name": "Weiter"})
                event, data = await next_event(lines)
                assert event == "row" and f'id="person-{person.id}"' in data and "Status von Bernhard Tester: beantragt" in data


async def _open_stream(stack, base_url: str, token: str, language: str):
    """An admin's live stream, read up to its `ready` event; returns its event lines."""
    client = await stack.enter_async_context(httpx.AsyncClient(
        base_url=base_url, cookies={SESSION_COOKIE: token, LANGUAGE_COOKIE: language}, timeout=WAIT_SECONDS))
    stream = await stack.enter_async_context(client.stream("GET", "/nutzerverwaltung/live"))
    assert stream.status_code == 200
    lines = aiter(stream.aiter_lines())
    assert (await next_event(lines))[0] == "cursor"
    assert await next_event(lines) == ("ready", "bereit")
    return lines


async def test_streams_sharing_a_rendering_see_only_their_own_organisation(settings, factory, db, clock, service):
    """A changed row is read and rendered once per process for all streams of the same
    organisation and language (web/controllers/users.py LiveRows). Two organisations with
    two streams each, in two languages: every stream gets its own organisation's rows
    only, each in its own language, and the other organisation's person never appears."""
    ours = await factory.invite(email="olga@unsrig.example")
    ours_later = await factory.invite(ours.organisation_id, email="otto@unsrig.example")
    theirs = await factory.invite(email="thea@fremd.example")
    tokens = {}
    for organisation_id in (ours.organisation_id, theirs.organisation_id):
        for language in ("de", "en"):
            admin_id = await factory.account(organisation_id, role="admin")
            tokens[organisation_id, language] = await login_session(db, clock, admin_id, organisation_id)
    with running_server(settings, clock) as base_url:
        async with contextlib.AsyncExitStack() as stack:
            streams = {key: await _open_stream(stack, base_url, token, key[1]) for key, token in tokens.items()}
            await service.send(ours.id, "remind_inactive")
            await service.send(theirs.id, "remind_inactive")
            # A later change of our own: events come in commit order, so had their change
            # reached one of our streams, it would come before this one.
            await service.send(ours_later.id, "remind_inactive")
            expected = {
                ours.organisation_id: [(ours.id, "olga@unsrig.example"), (ours_later.id, "otto@unsrig.example")],
                theirs.organisation_id: [(theirs.id, "thea@fremd.example")],
            }
            status = {"de": "Status von", "en": "Status of"}
            for (organisation_id, language), lines in streams.items():
                foreign = "fremd.example" if organisation_id == ours.organisation_id else "unsrig.example"
                for instance_id, email in expected[organisation_id]:
                    event, data = await next_event(lines)
                    assert event == "row" and f'id="person-{instance_id}"' in data and f"<td>{email}</td>" in data
                    assert status[language] in data and foreign not in data
