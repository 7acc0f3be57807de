"""A throw-away database per test session, emptied before each test."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlsplit, urlunsplit

from db.engine import Database
from db.migrate import upgrade
from db.tables import ALL_TABLES

TABLES_CHILD_FIRST = [t._meta.tablename for t in reversed(ALL_TABLES)]
DROP_ATTEMPTS = 150  # 30 s in all


async def create_postgres_database(base_url: str) -> str:
    import asyncpg

    name = f"partnerportal_test_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(base_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def drop_postgres_database(base_url: str, url: str) -> None:
    import asyncpg

    name = urlsplit(url).path.lstrip("/")
    connection = await asyncpg.connect(base_url)
    try:
        # FORCE ends the test's own sessions, but not an autovacuum worker that happens to be
        # in the database (it runs as a superuser; CI failed on this once). Such a worker
        # is done within moments on a test database; nothing announces its end, so retry.
        for attempt in range(DROP_ATTEMPTS):
            try:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.exceptions.InsufficientPrivilegeError:
                if attempt == DROP_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await connection.close()


async def migrate(url: str) -> None:
    database = Database(url)
    await database.start(pool_size=2)
    try:
        await upgrade(database)
    finally:
        await database.close()


async def empty_all_tables(database: Database) -> None:
    if database.is_sqlite:
        await database.write([_raw(f"DELETE FROM {t}") for t in TABLES_CHILD_FIRST])
    else:
        await database.write([_raw(f"TRUNCATE {', '.join(TABLES_CHILD_FIRST)} RESTART IDENTITY CASCADE")])


def _raw(sql: str):
    from db.tables import Organisation

    return Organisation.raw(sql)


def run(coroutine):
    return asyncio.run(coroutine)
