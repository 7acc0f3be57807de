"""Where a benchmark's database time goes, per kind of statement ("UPDATE flow_instance",
"INSERT outbox", "COMMIT", ...): count, wall time and CPU time.

SQLite runs in this process, on the thread that owns the connection: its CPU per
statement is that thread's CPU time around the statement. On PostgreSQL the wall time is
measured around the client call and the CPU is the serving backend's (user + system from
/proc, read before and after each statement: 10 ms ticks, so a kind's sum is an estimate
that grows exact over many statements; needs the server on this machine).

On PostgreSQL, `explained` looks inside the write path's joined statements (one round
trip for a transition's writes to several tables): EXPLAIN ANALYZE of each, summed by
write (table) and by trigger, the foreign-key checks among them.

Only for benchmarks: it wraps the connection of a started `db.engine.Database`.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from contextlib import contextmanager

from bench.common import _process_cpu_seconds

_WRITE = re.compile(r'\b(UPDATE|INSERT INTO|DELETE FROM)\s+"?(\w+)', re.IGNORECASE)
_SET = re.compile(r"\bSET\s+(.*?)\s+(?:FROM|WHERE)\b", re.IGNORECASE | re.DOTALL)
_READ = re.compile(r'\bFROM\s+"?(\w+)', re.IGNORECASE)


def statement_kind(sql: str) -> str:
    head = sql.lstrip().split(None, 1)[0].rstrip(";").upper() if sql.strip() else ""
    if head in ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE"):
        return head
    if head in ("UPDATE", "INSERT", "DELETE", "WITH") and (match := _WRITE.search(sql)):
        verb = match.group(1).split()[0].upper()
        if verb == "UPDATE" and (assignments := _SET.search(sql, match.end())):
            # The columns set tell a timer's claim, firing and cancellation apart.
            columns = ",".join(re.findall(r'"?(\w+)"?\s*=', assignments.group(1)))
            return f"UPDATE {match.group(2)} SET {columns}"
        return f"{verb} {match.group(2)}"
    if match := _READ.search(sql):
        return f"SELECT {match.group(1)}"
    return head


class StatementProfile:
    def __init__(self) -> None:
        self.count: dict[str, int] = defaultdict(int)
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.enabled = True

    def add(self, kind: str, wall: float, cpu: float) -> None:
        if self.enabled:
            self.count[kind] += 1
            self.wall[kind] += wall
            self.cpu[kind] += cpu

    def rows(self, per: int) -> list[list[object]]:
        """Kinds by CPU time, most first: count, wall ms, CPU ms, CPU µs per `per` items."""
        kinds = sorted(self.count, key=lambda k: (-self.cpu[k], -self.wall[k]))
        rows: list[list[object]] = [
            [k, self.count[k], self.wall[k] * 1e3, self.cpu[k] * 1e3, self.cpu[k] / per * 1e6] for k in kinds
        ]
        rows.append(["all statements", sum(self.count.values()), sum(self.wall.values()) * 1e3,
                     sum(self.cpu.values()) * 1e3, sum(self.cpu.values()) / per * 1e6])
        return rows


class _Rows:
    __slots__ = ("rows", "rowcount")

    def __init__(self, rows, rowcount):
        self.rows = rows
        self.rowcount = rowcount  # read after the rows are fetched, as the engine does

    def fetchall(self):
        return self.rows


class _TimedSqlite:
    """Stands in for the sqlite3 connection of `Database`: every call is `execute(...)`
    (optionally followed by `.fetchall()`), so the whole statement runs inside the timing."""

    def __init__(self, connection, profile: StatementProfile):
        self._connection = connection
        self._profile = profile

    def execute(self, sql, args=()):
        wall, cpu = time.perf_counter(), time.thread_time()
        cursor = self._connection.execute(sql, args)
        rows = cursor.fetchall()
        self._profile.add(statement_kind(sql), time.perf_counter() - wall, time.thread_time() - cpu)
        return _Rows(rows, cursor.rowcount)

    def __getattr__(self, name):
        return getattr(self._connection, name)


@contextmanager
def profiled(db, profile: StatementProfile):
    """Time every statement `db` runs while inside the block."""
    if db.is_sqlite:
        original = db._connection
        db._connection = _TimedSqlite(original, profile)
        try:
            yield profile
        finally:
            db._connection = original
        return
    from asyncpg.connection import Connection

    fetch, fetchrow, execute = Connection.fetch, Connection.fetchrow, Connection.execute

    def timed(method):
        async def call(self, query, *args, **kwargs):
            pid = self.get_server_pid()
            cpu, wall = _process_cpu_seconds(pid) or 0.0, time.perf_counter()
            try:
                return await method(self, query, *args, **kwargs)
            finally:
                profile.add(statement_kind(query), time.perf_counter() - wall, (_process_cpu_seconds(pid) or 0.0) - cpu)

        return call

    # fetchrow: the write path's joined statements (db.engine.Database.write).
    Connection.fetch, Connection.fetchrow, Connection.execute = timed(fetch), timed(fetchrow), timed(execute)
    try:
        yield profile
    finally:
        Connection.fetch, Connection.fetchrow, Connection.execute = fetch, fetchrow, execute


_WRITE_NODE = re.compile(r"(Insert|Update|Delete) on (\w+)\s.*actual time=[\d.]+\.\.([\d.]+)")
_TRIGGER = re.compile(r"^Trigger (?:for constraint )?(\S+)(?: on \w+)?: time=([\d.]+) calls=(\d+)")
_EXECUTION = re.compile(r"^Execution Time: ([\d.]+) ms")


class PlanProfile:
    """Server time inside joined statements, from their EXPLAIN ANALYZE: per write (the
    node's time, with the scan that finds its rows) and per trigger (with its calls), in ms."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)  # triggers only
        self.statements = 0
        self.execution_ms = 0.0

    def add_plan(self, lines: list[str]) -> None:
        self.statements += 1
        for line in lines:
            text = line.strip()
            if match := _WRITE_NODE.search(text):
                verb, table, ms = match.groups()
                key, calls = f"{verb.upper()} {table}", 0
            elif match := _TRIGGER.search(text):
                key, ms, calls = f"trigger {match.group(1)}", match.group(2), int(match.group(3))
            elif match := _EXECUTION.search(text):
                self.execution_ms += float(match.group(1))
                continue
            else:
                continue
            self.ms[key] += float(ms)
            self.calls[key] += calls

    def rows(self, per: int) -> list[list[object]]:
        """Writes and triggers by time, most first: trigger calls, ms, us per `per` items."""
        rows: list[list[object]] = [
            [key, self.calls[key] or "", self.ms[key], self.ms[key] / per * 1e3]
            for key in sorted(self.ms, key=lambda k: -self.ms[k])
        ]
        rows.append([f"execution of the {self.statements} statements", "", self.execution_ms, self.execution_ms / per * 1e3])
        return rows


@contextmanager
def explained(profile: PlanProfile):
    """PostgreSQL: every joined statement of the write path (`WITH w0 AS ...`, sent with
    fetchrow) runs once under EXPLAIN ANALYZE inside a savepoint that is rolled back,
    then for real. The plans are summed into `profile`; the real statements make the run
    complete, but its timings count the work twice, so use them only for the plans."""
    from asyncpg.connection import Connection

    fetchrow = Connection.fetchrow

    async def explain_then_run(self, query, *args, **kwargs):
        if query.startswith("WITH w0 AS"):
            try:
                async with self.transaction():  # a savepoint inside the write's transaction
                    plan = await self.fetch("EXPLAIN (ANALYZE, TIMING) " + query, *args)
                    profile.add_plan([row[0] for row in plan])
                    raise _RollBack
            except _RollBack:
                pass
        return await fetchrow(self, query, *args, **kwargs)

    Connection.fetchrow = explain_then_run
    try:
        yield profile
    finally:
        Connection.fetchrow = fetchrow


class _RollBack(Exception):
    """Ends the savepoint of an explained statement (asyncpg rolls back on an exception)."""
