"""Live status for open Nutzerverwaltung tables, across processes.

The database is the source: every transition writes a history row. One poller per
process reads new rows (only while someone listens) and wakes the subscribers of
that row's organisation; the row is read and rendered once per process, organisation and
language and sent on each of their SSE streams (LiveRows in the users controller).
So a change made by any process reaches every process's admins. On PostgreSQL the poller
reads when a NOTIFY names one of its organisations (db/wakeups.py), and otherwise only
every PARTNERPORTAL_WAKE_FALLBACK_SECONDS; on SQLite it polls every 0.1 s."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from datetime import timedelta

from db import people, sessions
from db.engine import Database
from db.wakeups import ALL, LIVE, Bell, WakeUps

log = logging.getLogger(__name__)

# Transactions may commit out of id order; looking back this many ids catches a
# row that became visible after a higher one (duplicates are filtered).
LOOK_BACK = 200
# How often the poller reads the history while anyone listens. The live status should
# reach the table within 200 ms of the commit (the poll, reading and rendering the
# row once for all streams included); a poll that finds nothing is one indexed query
# of well under a millisecond, so 10 polls a second cost ~0.1-0.2 % of a core.
POLL_INTERVAL_SECONDS = 0.1
# A stream without news sends a comment this often, and checks its session first (SES-9);
# proxies also keep an idle connection open only so long.
KEEP_ALIVE_SECONDS = 15.0


class ChangeFeed:
    def __init__(self, db: Database, interval_seconds: float = POLL_INTERVAL_SECONDS, wakeups: WakeUps | None = None):
        self.db = db
        self.wakeups = wakeups if wakeups is not None and wakeups.active else None
        # Woken by notifications, the feed polls only as a fallback.
        self.interval = self.wakeups.fallback_seconds if self.wakeups else interval_seconds
        self._bell = Bell()
        self._subscribers: dict[int, set[asyncio.Queue[int]]] = defaultdict(set)
        self._task: asyncio.Task | None = None
        self._cursor = 0
        self._seen: set[int] = set()
        # Ids within LOOK_BACK of the cursor not seen yet: a transaction that took the id
        # may still commit (PostgreSQL sequences), or the id is never used (rolled back).
        self._gaps: set[int] = set()
        # Counts the polls that delivered something: a read of a row started at generation g
        # shows every change delivered up to poll g (see LiveRows in the users controller).
        self.generation = 0
        # Set once the running poller has read where the history stands: from then on every
        # later change reaches the subscribers (a stream's first event id is this cursor).
        self.ready = asyncio.Event()

    @property
    def cursor(self) -> int:
        """The highest history id this feed has read: the id of what a stream sent so far."""
        return self._cursor

    def subscribe(self, organisation_id: int) -> asyncio.Queue[int]:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1000)
        self._subscribers[organisation_id].add(queue)
        if self._task is None or self._task.done():
            self.ready.clear()
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
        self.ready.clear()

    def _notified(self, organisations: str) -> None:
        if organisations == ALL or any(int(o) in self._subscribers for o in organisations.split(",")):
            self._bell.ring()

    async def _run(self) -> None:
        unsubscribe = self.wakeups.on(LIVE, self._notified) if self.wakeups else None
        try:
            while not self.ready.is_set():
                if not self._subscribers:
                    return
                try:
                    await self._read_starting_point()
                except Exception:  # e.g. the database is down: the streams wait for `ready`
                    log.warning("Live feed could not read the history; retrying", exc_info=True)
                    await self._pause()
                else:
                    self.ready.set()
            while self._subscribers:
                await self._pause()
                try:
                    await self.poll()
                except Exception:  # e.g. the database restarts: keep the streams, try again
                    log.warning("Live feed poll failed; retrying", exc_info=True)
        finally:
            self.ready.clear()
            if unsubscribe is not None:
                unsubscribe()

    async def _pause(self) -> None:
        """Until a notification names one of our organisations (or the listener reconnected),
        at most the interval."""
        if self.wakeups:
            await self._bell.wait(self.interval)
        else:
            await asyncio.sleep(self.interval)

    async def _read_starting_point(self) -> None:
        self._cursor = await people.latest_history_id(self.db)
        # What is already there is no news: only later rows are delivered.
        floor = max(0, self._cursor - LOOK_BACK)
        self._seen = {r["id"] for r in await people.changed_since(self.db, floor)}
        self._gaps = set(range(floor + 1, self._cursor + 1)) - self._seen

    async def poll(self) -> None:
        # Only rows above the cursor and the gaps below it: re-reading the whole look-back
        # window (up to LOOK_BACK rows) on every poll cost more than the rest of the poll.
        rows = await people.changes_after(self.db, self._cursor, self._gaps)
        delivered = False
        for row in rows:
            if row["id"] in self._seen:
                continue
            self._seen.add(row["id"])
            self._gaps.discard(row["id"])
            delivered = True
            for queue in list(self._subscribers.get(row["organisation"], ())):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(row["instance"])
        if delivered:
            self.generation += 1
        if rows:
            top = rows[-1]["id"]
            if top > self._cursor:
                # Rows come in id order from the lowest: ids up to `top` that did not come are gaps.
                start = max(self._cursor + 1, top - LOOK_BACK + 1)
                self._gaps.update(i for i in range(start, top) if i not in self._seen)
                self._cursor = top
            floor = self._cursor - LOOK_BACK
            self._seen = {i for i in self._seen if i > floor}
            self._gaps = {i for i in self._gaps if i > floor}


class SessionChecks:
    """Whether the sessions behind open streams are still live (SES-9), for all of a
    process's streams in one query: the feed wakes every stream of an organisation at
    once, and each checks its session before it sends; checks asked for in the same
    turn of the event loop share one read of the database."""

    def __init__(self, db: Database, clock, idle: timedelta):
        self.db, self.clock, self.idle = db, clock, idle
        self._waiting: dict[int, asyncio.Future[bool]] = {}
        self._task: asyncio.Task | None = None

    async def alive(self, session_id: int) -> bool:
        future = self._waiting.get(session_id)
        if future is None:
            future = self._waiting[session_id] = asyncio.get_running_loop().create_future()
            if self._task is None:
                self._task = asyncio.create_task(self._check())
        # shield: a stream that goes away must not cancel the answer the others wait for
        return await asyncio.shield(future)

    async def _check(self) -> None:
        await asyncio.sleep(0)  # let the other streams woken by the same poll ask too
        waiting, self._waiting, self._task = self._waiting, {}, None
        try:
            live = await sessions.live_among(self.db, list(waiting), self.clock.now(), self.idle)
        except Exception:  # the database is away: a stream that cannot tell closes (fail closed)
            log.warning("Session check for live streams failed; closing them", exc_info=True)
            live = set()
        for session_id, future in waiting.items():
            if not future.done():
                future.set_result(session_id in live)
