"""PostgreSQL wakes the processes: one dedicated LISTEN connection per process hears the
NOTIFYs the triggers of migration m0026 send at commit, and rings whoever waits for that
kind of change (the live feed, the outbox dispatcher, the timer sweep).

A pooled connection cannot listen (returning it to the pool runs `UNLISTEN *`), hence the
own connection. A notification sent while the connection is down is lost for good, so
after every (re)connect each subscriber is rung once with `ALL`: it polls, and finds what
it missed. On SQLite there is nothing to listen to: `active` is False and the processes
poll as before."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable

import asyncpg

from db.engines import CONNECT_TIMEOUT_S

log = logging.getLogger(__name__)

CHANNEL = "partnerportal_wake"  # the channel the triggers of m0026 notify
# How the listening connections show in pg_stat_activity.
APPLICATION_NAME = "partnerportal wake-ups"
LIVE, OUTBOX, TIMER = "live", "outbox", "timer"
# What a subscriber gets after a (re)connect, or from a statement that touched too many
# organisations to name them: "look at everything".
ALL = "*"
# Reconnect backoff: quick at first (a restart of the database), capped.
BACKOFF_FIRST_SECONDS = 0.1
BACKOFF_LONGEST_SECONDS = 10.0
# A connection that silently died (no FIN from a crashed host) is noticed by this ping.
PING_TIMEOUT_SECONDS = 10.0

Callback = Callable[[str], None]


class WakeUps:
    """Listens on one connection; `on(kind, callback)` calls `callback(detail)` for each
    notification of that kind (`detail`: organisation ids "1,5", a due time in epoch
    seconds, or ALL)."""

    def __init__(self, url: str, fallback_seconds: float):
        self.url = url
        self.fallback_seconds = fallback_seconds
        self.active = url.startswith(("postgresql://", "postgres://"))
        self._callbacks: dict[str, list[Callback]] = defaultdict(list)
        self._task: asyncio.Task | None = None
        # `listening` is set while the LISTEN is in place, `down` while it is not (tests wait
        # for either); `connections` counts the connections made, `server_pid` is the current
        # one's backend.
        self.listening = asyncio.Event()
        self.down = asyncio.Event()
        self.down.set()
        self.connections = 0
        self.server_pid: int | None = None

    def on(self, kind: str, callback: Callback) -> Callable[[], None]:
        """Subscribe; returns the function that unsubscribes."""
        self._callbacks[kind].append(callback)
        return lambda: self._callbacks[kind].remove(callback)

    async def start(self) -> None:
        if self.active and self._task is None:
            self._task = asyncio.create_task(self._run(), name="wakeups")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.listening.clear()
        self.down.set()

    async def _run(self) -> None:
        backoff = BACKOFF_FIRST_SECONDS
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT_S,
                                                   server_settings={"application_name": APPLICATION_NAME})
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _connection: lost.set())
                await connection.add_listener(CHANNEL, self._notified)
                self.connections += 1
                self.server_pid = connection.get_server_pid()
                backoff = BACKOFF_FIRST_SECONDS
                self.down.clear()
                self.listening.set()
                if self.connections == 1:
                    log.info("Wake-ups: listening for notifications from PostgreSQL")
                else:
                    log.info("Wake-ups: listening again after a lost connection; everyone polls once")
                # Whatever was written while nobody listened: everyone polls once now.
                self._ring_all()
                await self._hold(connection, lost)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarts, the connection was killed: try again
                log.warning("Wake-up listener lost its connection (%s); reconnecting in %.1f s",
                            type(exc).__name__, backoff)
            finally:
                self.listening.clear()
                self.down.set()
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_LONGEST_SECONDS)

    async def _hold(self, connection: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Until the connection ends: the server closed it, or a ping finds it dead."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(lost.wait(), self.fallback_seconds)
            if lost.is_set() or connection.is_closed():
                raise ConnectionError("the listening connection was closed")
            await connection.fetchval("SELECT 1", timeout=PING_TIMEOUT_SECONDS)

    def _notified(self, _connection, _pid, _channel, payload: str) -> None:
        kind, _, detail = payload.partition(":")
        self._ring(kind, detail or ALL)

    def _ring_all(self) -> None:
        for kind in list(self._callbacks):
            self._ring(kind, ALL)

    def _ring(self, kind: str, detail: str) -> None:
        for callback in list(self._callbacks.get(kind, ())):
            try:
                callback(detail)
            except Exception:  # one broken subscriber must not silence the others
                log.exception("Wake-up subscriber for %r failed", kind)


class Bell:
    """What a consumer waits on: rung by a notification, or it times out (the fallback
    poll). `wait` clears the bell as it returns, before the consumer works, so a ring
    that comes while it works makes the next `wait` return at once: none is lost."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self, _detail: str = ALL) -> None:
        self._event.set()

    @property
    def rung(self) -> bool:
        return self._event.is_set()

    async def wait(self, timeout: float, gather: float = 0.0) -> None:
        """`gather`: after the bell rang, wait this much longer before returning, so that
        what else is written in the meantime is handled together (rings meanwhile count
        as this one: the consumer's work will see those rows)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        if gather > 0 and self._event.is_set():
            await asyncio.sleep(gather)
        self._event.clear()


def ring_when_due(bell: Bell, now: Callable[[], float], within: float) -> Callback:
    """A callback for OUTBOX and TIMER: the detail is when the new row falls due (epoch
    seconds). Due now: ring at once; due before the next fallback poll: ring then; later:
    that poll (or a later one) finds it."""

    def callback(detail: str) -> None:
        try:
            due = float(detail)
        except ValueError:  # ALL
            bell.ring()
            return
        delay = due - now()
        if delay <= 0:
            bell.ring()
        elif delay < within:
            asyncio.get_running_loop().call_later(delay, bell.ring)

    return callback
