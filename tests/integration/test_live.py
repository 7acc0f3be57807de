"""Live badges: a change made through another process's database handle reaches the
subscribers of that organisation, and only them."""

from __future__ import annotations

import asyncio

from db.engine import Database
from web.live import ChangeFeed
from workflows.service import FlowService


async def next_item(queue: asyncio.Queue, timeout: float = 5.0):
    return await asyncio.wait_for(queue.get(), timeout)


async def test_changes_from_another_process_reach_only_their_organisation(factory, database_url, registry, clock, db):
    mine = await factory.invite()
    theirs = await factory.invite()
    feed = ChangeFeed(db, interval_seconds=0.05)
    my_queue = feed.subscribe(mine.organisation_id)
    their_queue = feed.subscribe(theirs.organisation_id)
    other_process = Database(database_url)
    await other_process.start(pool_size=2)
    try:
        await asyncio.sleep(0.2)  # let the feed read its starting cursor
        await FlowService(other_process, registry, clock).send(
            mine.id, "complete_profile", data={"first_name": "A", "last_name": "B"}
        )
        assert await next_item(my_queue) == mine.id
        await asyncio.sleep(0.3)
        assert their_queue.empty()
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
        await asyncio.sleep(0.1)  # the feed reads its starting point: nothing old is news
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
