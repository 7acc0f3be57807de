"""Engine selection from a URL, and the two ways the app talks to the database.

`Database.fetch` runs one Piccolo query; `Database.write` runs a list of Piccolo
queries as one transaction. On SQLite both happen in a single hop to one dedicated
thread that keeps one connection open: stock Piccolo opens a new aiosqlite connection
(and thread) per query, which capped a transition at ~370/s on this kind of machine.
Piccolo still builds every statement; we only choose where it runs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
import queue
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine, dict_factory
from piccolo.query.base import Query
from piccolo.querystring import QueryString

from core.settings import masked_url
from db.engines import CONNECT_TIMEOUT_S, SQLITE_BUSY_TIMEOUT_MS, make_engine
from db import sqlite_converters
from db.outage import CannotConnect, DatabaseUnavailable, connect_failure
from db.tables import ALL_TABLES

# WAL checkpoints (copying committed pages into the database file, with an fsync) run
# on a background thread, a moment after a commit, so a commit does not pay for one:
# SQLite's default, a checkpoint inside every ~55th commit of a transition, took
# 5-10 ms and set the p99 latency. The writer still checkpoints by itself once the
# WAL holds this many pages (~32 MiB), which keeps the WAL bounded under a load so
# steady that the background checkpoint never catches up completely.
SQLITE_CHECKPOINT_DELAY_S = 0.05
SQLITE_WRITER_CHECKPOINT_PAGES = 8_000

log = logging.getLogger(__name__)


class ConflictError(Exception):
    """Someone else changed the row first (optimistic concurrency); nothing was written."""


Results = list[list[dict[str, Any]]]


def refused_by_database(exc: BaseException) -> bool:
    """Whether the database refused a write because of what it wrote (a constraint, a
    trigger, a value) or rolled it back for a concurrent one (deadlock, serialization),
    as opposed to being unreachable or the statement being wrong for every row. A batch
    refused like this can be split: the part without the offending row goes through."""
    if isinstance(exc, sqlite3.DatabaseError):
        return isinstance(exc, (sqlite3.IntegrityError, sqlite3.DataError))
    return isinstance(
        exc,
        (
            asyncpg.IntegrityConstraintViolationError,  # class 23
            asyncpg.DataError,  # class 22
            asyncpg.TransactionRollbackError,  # class 40: deadlock, serialization failure
            asyncpg.TriggeredActionError,  # class 09
            asyncpg.PLPGSQLError,  # class P0: RAISE in a trigger
        ),
    )


@dataclass(frozen=True)
class Step:
    """One statement of a write.

    `expect_rows`: the number of rows its RETURNING must give, else the whole
    write is rolled back with ConflictError (a lost optimistic-concurrency race).
    `counted`: the statement has no RETURNING and `expect_rows` is checked against the
    number of rows it changed (the driver's row count): a batch's version checks and
    timer claims then cost no result rows (measured in docs/benchmarks.md, issue 12
    round 3).
    """

    query: Query
    expect_rows: int | None = None
    counted: bool = False
    # Returns no rows and reads no table but the one it writes (an INSERT from values, an
    # UPDATE by ids): on PostgreSQL it may then run in one statement with the joinable
    # steps next to it that write other tables (see `Database.write`).
    joinable: bool = False

    def check(self, rows: list) -> None:
        if self.expect_rows is not None and len(rows) != self.expect_rows:
            raise ConflictError("The record was changed concurrently.")

    def check_changed(self, changed: int) -> None:
        """The check of a `counted` statement, given the number of rows it changed."""
        if self.expect_rows is not None and changed != self.expect_rows:
            raise ConflictError("The record was changed concurrently.")


@dataclass(frozen=True)
class Deferred:
    """Steps that need the results of earlier ones (e.g. the id an INSERT returned).
    `expand` may read nothing but those results (a joinable step's are empty): it may be
    called before the joinable steps just before it have run."""

    expand: Callable[[Results], list[Step]]


class Sql(Query):
    """A hand-written statement for hot paths: a template with `{}` placeholders (as in
    `Table.raw`) and flat values. `Database` turns the placeholders into `?` or `$n`
    directly; building the same statement with Piccolo's query builder (a Table object
    per row, a QueryString tree per column) cost 0.1-0.6 ms per statement. It is still
    a Piccolo query: `await Sql(...).run()` works through Piccolo's own engine."""

    __slots__ = ("template", "values")

    def __init__(self, table: Any, template: str, *values: Any):
        super().__init__(table)
        self.template = template
        self.values = values

    @property
    def default_querystrings(self) -> Sequence[QueryString]:
        return [QueryString(self.template, *self.values)]

    def compile(self, engine_type: str) -> tuple[str, list[Any]] | None:
        """(sql, args) for the engine, or None if the template needs Piccolo's own
        parser (escaped braces `{{ }}` or named fields)."""
        template = self.template
        count = template.count("{}")
        if template.count("{") != count or template.count("}") != count:
            return None
        if engine_type == "sqlite":
            return template.replace("{}", "?"), list(self.values)
        return _numbered(template), list(self.values)


@functools.lru_cache(maxsize=1024)
def _numbered(template: str, first: int = 1) -> str:
    """`{}` placeholders as $1, $2, ... (PostgreSQL), from `$first` on; a statement's text
    repeats, so cached."""
    parts = template.split("{}")
    sql = [parts[0]]
    for index, part in enumerate(parts[1:], start=first):
        sql.append(f"${index}")
        sql.append(part)
    return "".join(sql)


def _can_join(step: Step | Deferred) -> bool:
    return (
        isinstance(step, Step) and step.joinable and type(step.query) is Sql
        and step.query.compile("postgres") is not None
    )


def _joined_group(first: Step, pending: list[Step | Deferred], results: Results) -> list[Step]:
    """`first` and the joinable steps after it that write other tables, taken from
    `pending`. A Deferred among them is expanded on the way: the steps before it return no
    rows, so its results are known before they run."""
    group, tables = [first], {first.query.table._meta.tablename}
    while pending:
        item = pending[0]
        if isinstance(item, Deferred):
            pending.pop(0)
            pending[0:0] = item.expand(results + [[] for _ in group])
            continue
        table = item.query.table._meta.tablename if _can_join(item) else None
        if table is None or table in tables:
            break
        group.append(pending.pop(0))
        tables.add(table)
    return group


def _joined_statement(group: list[Step]) -> tuple[str, list[Any], list[Step]]:
    """One statement for the group: each step a data-modifying WITH query. PostgreSQL
    runs every one of them once, all on the same snapshot; so no two write the same
    table, and none reads another's table (`Step.joinable`). A counted step returns one
    row per changed row, counted by the main query."""
    queries, args, counted, counts = [], [], [], []
    for index, step in enumerate(group):
        sql = _numbered(step.query.template, len(args) + 1)
        if step.counted:
            sql += " RETURNING 1"
            counted.append(step)
            counts.append(f"(SELECT count(*) FROM w{index})")
        queries.append(f"w{index} AS ({sql})")
        args.extend(step.query.values)
    return "WITH " + ", ".join(queries) + " SELECT " + (", ".join(counts) or "1"), args, counted


def _lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _next_step(pending: list[Step | Deferred], results: Results) -> Step | None:
    """The next statement, or None when none is left (a Deferred may expand to nothing)."""
    while pending:
        item = pending.pop(0)
        if not isinstance(item, Deferred):
            return item
        pending[0:0] = item.expand(results)
    return None


def bind_tables(engine: Engine) -> None:
    """Point every table (and Piccolo's migration machinery) at this engine."""
    from db import piccolo_conf

    # Piccolo's migration runner finds its configuration module by this name.
    os.environ.setdefault("PICCOLO_CONF", "db.piccolo_conf")

    piccolo_conf.DB = engine
    for table in ALL_TABLES:
        table._meta.db = engine
    from piccolo.apps.migrations.tables import Migration

    Migration._meta.db = engine


class _Checkpointer(threading.Thread):
    """PASSIVE WAL checkpoints on an own connection: they never wait for, nor block, the writer."""

    def __init__(self, path: str):
        super().__init__(name="sqlite-checkpoint", daemon=True)
        self.path = path
        self.wake = threading.Event()
        self._stopping = threading.Event()

    def run(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self.wake.wait()
                if self._stopping.wait(SQLITE_CHECKPOINT_DELAY_S):
                    return
                self.wake.clear()
                if self._stopping.is_set():  # stop() woke us between the wait and the clear
                    return
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:  # e.g. the file went away; the writer's own checkpoints still run
                    log.warning("Background WAL checkpoint failed", exc_info=True)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopping.set()
        self.wake.set()
        self.join()


class _SqliteThread:
    """The one thread that owns the SQLite connection: a FIFO of calls, each result handed
    back to the caller's event loop. Measured ~25 us per round trip against ~45 us for
    loop.run_in_executor on a one-worker ThreadPoolExecutor (two per transition)."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="sqlite", daemon=True)
        self._thread.start()

    async def call(self, fn, *args):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((loop, future, fn, args))
        return await future

    def shutdown(self) -> None:
        self._calls.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, fn, args = call
            if future.cancelled():  # like an executor: a call cancelled before it started never runs
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, as an executor does
                self._deliver(loop, future, None, exc)
            else:
                self._deliver(loop, future, result, None)

    @staticmethod
    def _deliver(loop, future, result, exc) -> None:
        def settle() -> None:
            if future.cancelled():
                return
            if exc is None:
                future.set_result(result)
            else:
                future.set_exception(exc)

        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


# Every statement plans for its own arguments: a generic plan, which PostgreSQL picks for a
# prepared statement after five runs, cannot know the search pattern or the page's limit,
# and was measured scanning 1 M rows where the custom plan read an index (STACK.md).
PG_SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to reset when a connection goes back to the pool (asyncpg still rolls back
    an open transaction first): the app sets no session state, takes only transaction-level
    advisory locks and LISTENs on a connection of its own. The default reset was one more
    round trip (RESET ALL, UNLISTEN *, ...) after every statement outside a transaction."""


class Database:
    """The app's handle on the database; one per process, opened in the lifespan."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = isinstance(self.engine, SQLiteEngine)
        bind_tables(self.engine)
        self._executor: _SqliteThread | None = None
        self._connection: sqlite3.Connection | None = None
        self._checkpointer: _Checkpointer | None = None
        self._pool_started = False

    async def start(self, pool_size: int = 8) -> None:
        """Open the connection (pool); CannotConnect names the URL (without password) and what failed."""
        try:
            await self._start(pool_size)
        except (OSError, TimeoutError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self.close()
            raise CannotConnect(
                f"Cannot connect to the database {masked_url(self.url)}: {connect_failure(exc, CONNECT_TIMEOUT_S)}"
            ) from exc

    async def _start(self, pool_size: int) -> None:
        if self.is_sqlite:
            Path(self.engine.path).parent.mkdir(parents=True, exist_ok=True)
            self._executor = _SqliteThread()
            await self._in_thread(self._open_sqlite)
        elif not self._pool_started:
            await self.engine.start_connection_pool(
                min_size=1, max_size=pool_size, reset=_keep_session, server_settings=PG_SERVER_SETTINGS,
            )
            self._pool_started = True

    async def close(self) -> None:
        if self.is_sqlite and self._executor is not None:
            if self._connection is not None:
                await self._in_thread(self._connection.close)
                self._connection = None
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            self._executor.shutdown()
            self._executor = None
        elif self._pool_started:
            await self.engine.close_connection_pool()
            self._pool_started = False

    # -- reading and writing -------------------------------------------------

    async def fetch(self, query: Query) -> list[dict[str, Any]]:
        statements = self._compile(query)
        if self.is_sqlite:
            return await self._in_thread(self._sqlite_fetch, statements)
        async with self._pg_connection() as connection:
            rows: list = []
            for sql, args in statements:
                rows = await connection.fetch(sql, *args)
            return [dict(row) for row in rows]

    async def fetch_tuples(self, query: Query) -> list[Sequence[Any]]:
        """Rows as sequences in the statement's column order, for a caller that reads many
        rows by position: no dict per row (~2 us each, 50 per page of the admin table)."""
        statements = self._compile(query)
        if self.is_sqlite:
            return await self._in_thread(self._sqlite_fetch_tuples, statements)
        async with self._pg_connection() as connection:
            rows: list = []
            for sql, args in statements:
                rows = await connection.fetch(sql, *args)
            return rows  # asyncpg's Records: read by position, without a copy

    async def explain(self, query: Query) -> str:
        """The query plan as text (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL)."""
        (sql, args), = self._compile(query)
        if self.is_sqlite:
            rows = await self._in_thread(self._sqlite_fetch, [(f"EXPLAIN QUERY PLAN {sql}", args)])
            return "\n".join(str(row["detail"]) for row in rows)
        async with self._pg_connection() as connection:
            rows = await connection.fetch(f"EXPLAIN {sql}", *args)
        return "\n".join(row[0] for row in rows)

    async def fetch_one(self, query: Query) -> dict[str, Any] | None:
        rows = await self.fetch(query)
        return rows[0] if rows else None

    async def write(self, steps: Sequence[Step | Deferred | Query]) -> Results:
        """Run all steps in one transaction; raise ConflictError (and roll back) on a lost race.

        On PostgreSQL, neighbouring joinable steps that write different tables go to the
        server as one statement: a transition's dozen statements become two or three
        round trips, an invitation's eight become five."""
        pending = [s if isinstance(s, (Step, Deferred)) else Step(s) for s in steps]
        if self.is_sqlite:
            return await self._in_thread(self._sqlite_write, pending)
        results: Results = []
        async with self._pg_connection() as connection:
            async with connection.transaction():
                while (step := _next_step(pending, results)) is not None:
                    if _can_join(step) and len(group := _joined_group(step, pending, results)) > 1:
                        # One round trip instead of one per step (~40 us of server and
                        # ~90 us of client CPU each, docs/benchmarks-nutzerverwaltung.md).
                        sql, args, counted = _joined_statement(group)
                        for checked, changed in zip(counted, await connection.fetchrow(sql, *args)):
                            checked.check_changed(changed)
                        results.extend([] for _ in group)
                        continue
                    rows: list = []
                    for sql, args in self._compile(step.query):
                        if step.counted:  # the status line ("UPDATE 500") carries the row count
                            step.check_changed(int((await connection.execute(sql, *args)).rsplit(" ", 1)[-1]))
                        else:
                            rows = await connection.fetch(sql, *args)
                    if not step.counted:
                        step.check(rows)
                    results.append([dict(row) for row in rows])
        return results

    # -- helpers ---------------------------------------------------------------

    def _compile(self, query: Query) -> list[tuple[str, list]]:
        if type(query) is Sql:
            compiled = query.compile(self.engine.engine_type)
            if compiled is not None:
                return [compiled]
        return [qs.compile_string(engine_type=self.engine.engine_type) for qs in query.querystrings]

    def _pg_connection(self):
        pool = self.engine.pool
        if pool is None:
            raise DatabaseUnavailable("The database pool is not started.")
        return pool.acquire()

    async def _in_thread(self, fn, *args):
        if self._executor is None:
            raise DatabaseUnavailable("The database is not started.")
        return await self._executor.call(fn, *args)

    def _open_sqlite(self) -> None:
        sqlite_converters.install()
        Path(self.engine.connection_kwargs["database"]).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(**self.engine.connection_kwargs, check_same_thread=False)
        connection.row_factory = dict_factory
        # WAL lets readers in other processes work while one writes.
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA foreign_keys=1")
        connection.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WRITER_CHECKPOINT_PAGES}")
        # lower() for all letters (SQLite's own folds only A-Z), for searches too short for
        # the trigram index (db/people.py); reads only, never in a trigger or an index.
        connection.create_function("py_lower", 1, _lower, deterministic=True)
        self._connection = connection
        if self._checkpointer is None:
            self._checkpointer = _Checkpointer(self.engine.connection_kwargs["database"])
            self._checkpointer.start()

    def _sqlite_fetch(self, statements: list[tuple[str, list]]) -> list[dict]:
        assert self._connection is not None
        rows: list = []
        for sql, args in statements:
            rows = self._connection.execute(sql, args).fetchall()
        return rows

    def _sqlite_fetch_tuples(self, statements: list[tuple[str, list]]) -> list[tuple]:
        assert self._connection is not None
        cursor = self._connection.cursor()
        cursor.row_factory = None  # plain tuples instead of the connection's dicts
        rows: list = []
        for sql, args in statements:
            rows = cursor.execute(sql, args).fetchall()
        return rows

    def _sqlite_write(self, pending: list[Step | Deferred]) -> Results:
        connection = self._connection
        assert connection is not None
        results: Results = []
        # IMMEDIATE takes the write lock up front, so concurrent writers wait
        # (busy_timeout) instead of failing with "database is locked" mid-way.
        connection.execute("BEGIN IMMEDIATE")
        try:
            while (step := _next_step(pending, results)) is not None:
                rows: list = []
                for sql, args in self._compile(step.query):
                    cursor = connection.execute(sql, args)
                    if step.counted:
                        step.check_changed(cursor.rowcount)
                    else:
                        rows = cursor.fetchall()
                if not step.counted:
                    step.check(rows)
                results.append(rows)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        checkpointer = self._checkpointer
        if checkpointer is not None and not checkpointer.wake.is_set():
            checkpointer.wake.set()
        return results
