"""Live status for open Nutzerverwaltung tables, across processes.

The database is the source: every transition writes a history row. One poller per
process reads new rows (only while someone listens) and wakes the subscribers of
that row's organisation; each subscriber renders the changed row for its SSE stream.
So a change made by any process reaches every process's admins."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from db import people
from db.engine import Database

log = logging.getLogger(__name__)

# Transactions may commit out of id order; looking back this many ids catches a
# row that became visible after a higher one (duplicates are filtered).
LOOK_BACK = 200


class ChangeFeed:
    def __init__(self, db: Database, interval_seconds: float = 0.5):
        self.db = db
        self.interval = interval_seconds
        self._subscribers: dict[int, set[asyncio.Queue[int]]] = defaultdict(set)
        self._task: asyncio.Task | None = None
        self._cursor = 0
        self._seen: set[int] = set()

    def subscribe(self, organisation_id: int) -> asyncio.Queue[int]:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1000)
        self._subscribers[organisation_id].add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return queue

    def unsubscribe(self, organisation_id: int, queue: asyncio.Queue[int]) -> None:
        self._subscribers[organisation_id].discard(queue)
        if not self._subscribers[organisation_id]:
            del self._subscribers[organisation_id]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        self._cursor = await people.latest_history_id(self.db)
        # What is already there is no news: only later rows are delivered.
        self._seen = {r["id"] for r in await people.changed_since(self.db, max(0, self._cursor - LOOK_BACK))}
        while self._subscribers:
            await asyncio.sleep(self.interval)
            try:
                await self.poll()
            except Exception:  # e.g. the database restarts: keep the streams, try again
                log.warning("Live feed poll failed; retrying", exc_info=True)

    async def poll(self) -> None:
        rows = await people.changed_since(self.db, max(0, self._cursor - LOOK_BACK))
        for row in rows:
            if row["id"] in self._seen:
                continue
            self._seen.add(row["id"])
            for queue in list(self._subscribers.get(row["organisation"], ())):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(row["instance"])
        if rows:
            self._cursor = max(self._cursor, rows[-1]["id"])
            self._seen = {i for i in self._seen if i > self._cursor - LOOK_BACK}
