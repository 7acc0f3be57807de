"""Piccolo engines from a database URL. Constructing one opens nothing: the app
connects when it starts (db.engine.Database.start)."""

from __future__ import annotations

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

SQLITE_BUSY_TIMEOUT_MS = 10_000
# At start, an unreachable host is reported after this long (asyncpg waits 60 s).
CONNECT_TIMEOUT_S = 10


class _PostgresEngine(PostgresEngine):
    """Piccolo's engine connects synchronously in its constructor to read the server
    version; that blocks the event loop and hangs for a minute when the database is
    down. We connect when the app starts instead (Database.start)."""

    async def check_version(self) -> None:
        return None


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        return SQLiteEngine(path=path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    if url.startswith(("postgresql://", "postgres://")):
        return _PostgresEngine(config={"dsn": url, "timeout": CONNECT_TIMEOUT_S}, extensions=())
    raise ValueError(
        f"Unsupported database URL {url!r}: use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/NAME"
    )
