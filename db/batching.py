"""Set-based statements for many rows at once, written as `Sql` templates: the SQL
Piccolo's query builder would send, without its per-row and per-column building work
on the hot paths (measurements: docs/benchmarks.md).
"""

from __future__ import annotations

import functools

from piccolo.columns import JSON, JSONB, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar

from db.engine import Sql, Step

# Statements stay below SQLite's and PostgreSQL's limit of 32 766 parameters.
MAX_PARAMETERS = 30_000


def marks(count: int) -> str:
    return ", ".join(["{}"] * count)


def is_postgres(table) -> bool:
    """On PostgreSQL, lists travel as one array parameter (`= ANY(array)`, `unnest`): one
    prepared statement whatever the batch size, and no 1 000-term OR for the planner."""
    return table._meta.db.engine_type == "postgres"


_ARRAY_TYPES = (
    ((ForeignKey, Serial, Integer), "int"),
    ((Varchar, Text), "text"),
    ((JSONB,), "jsonb"),
    ((JSON,), "json"),
    ((Timestamptz,), "timestamptz"),
)


@functools.lru_cache(maxsize=128)
def _array_types(table, columns: tuple[str, ...]) -> tuple[str, ...] | None:
    types = []
    for name in columns:
        column = table._meta.get_column_by_name(name)
        for kinds, array_type in _ARRAY_TYPES:
            if isinstance(column, kinds):
                types.append(array_type)
                break
        else:
            return None
    return tuple(types)


@functools.lru_cache(maxsize=128)
def _insert_templates(table, columns: tuple[str, ...], postgres: bool, returning: bool) -> tuple[str, str, str, str]:
    """(the PostgreSQL unnest INSERT or "", the "INSERT ... VALUES " head, one row's "(...)",
    the tail)."""
    head = f'INSERT INTO "{table._meta.tablename}" (' + ",".join(f'"{c}"' for c in columns) + ") "
    tail = ' RETURNING "id"' if returning else ""
    unnest = ""
    if postgres and (types := _array_types(table, columns)):
        unnest = head + "SELECT * FROM unnest(" + ", ".join(f"{{}}::{t}[]" for t in types) + ")" + tail
    return unnest, head + "VALUES ", "(" + marks(len(columns)) + ")", tail


def insert(table, columns: tuple[str, ...], rows: list[tuple], returning: bool = True) -> list[Step]:
    """Multi-row INSERT ... RETURNING "id", as Piccolo's insert of table objects sends it
    (on PostgreSQL: one INSERT ... SELECT FROM unnest of one array per column, whatever
    the number of rows: one prepared statement, planned once)."""
    if not rows:
        return []
    unnest, head, row, tail = _insert_templates(table, columns, is_postgres(table), returning)
    if unnest:
        return [Step(Sql(table, unnest, *[list(values) for values in zip(*rows)]), joinable=not returning)]
    per_statement = max(1, MAX_PARAMETERS // len(columns))
    steps = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = [value for r in chunk for value in r]
        steps.append(Step(Sql(table, head + ",".join([row] * len(chunk)) + tail, *values), joinable=not returning))
    return steps


def update_in(table, template: str, before: list, ids: list[int], after: tuple | list = ()) -> list[Step]:
    """One UPDATE per chunk of ids; `{ids}` in the template becomes the chunk's placeholders
    (on PostgreSQL: `IN ({ids})` becomes `= ANY(one array)`). The template may read no
    other table (the step is joinable)."""
    if is_postgres(table):
        return [Step(Sql(table, template.replace("IN ({ids})", "= ANY({}::int[])"), *before, list(ids), *after), joinable=True)]
    per_statement = MAX_PARAMETERS - len(before) - len(after)
    return [
        Step(Sql(table, template.replace("{ids}", marks(len(chunk))), *before, *chunk, *after))
        for chunk in (ids[start : start + per_statement] for start in range(0, len(ids), per_statement))
    ]
