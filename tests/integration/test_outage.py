"""A database outage answers 503, never 500 (REL-6; issue 10, section 2).

On PostgreSQL the outage is real: the app's backend is terminated with
pg_terminate_backend while a request's query runs on it (the query waits on a table lock
held by the test, so the termination lands mid-query, as in a restart), which gives the
app asyncpg's AdminShutdownError. The classification itself is checked with errors the
real drivers raise."""

from __future__ import annotations

import asyncio
import sqlite3
from urllib.parse import urlsplit

import asyncpg
import pytest

from db.outage import is_outage
from core.signing import Signer
from tests.conftest import TEST_SECRET
from tests.support.app import running_app


async def _terminate_when_waiting(url: str, table: str, request):
    """Hold a lock on `table`, wait until the app's query waits for it, terminate that
    backend, then let go; returns the HTTP response of `request`."""
    admin = await asyncpg.connect(url)
    try:
        transaction = admin.transaction()
        await transaction.start()
        await admin.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
        pending = asyncio.ensure_future(request)
        waiting: list = []
        for _ in range(500):  # up to ~10 s for the request to reach the lock
            waiting = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if waiting or pending.done():
                break
            await asyncio.sleep(0.02)  # polling interval, not synchronisation
        assert waiting, "the request never waited for the lock"
        terminated = await admin.fetchval("SELECT bool_and(pg_terminate_backend(pid)) FROM unnest($1::int[]) AS pid",
                                          [row["pid"] for row in waiting])
        assert terminated
        response = await asyncio.wait_for(pending, 30)
        await transaction.rollback()
        return response
    finally:
        await admin.close()


@pytest.mark.postgres
async def test_health_answers_503_when_the_database_ends_its_connection(settings, db):
    async with running_app(settings) as (_, client):
        assert (await client.get("/health")).status_code == 200
        response = await _terminate_when_waiting(settings.database_url, "organisation", client.get("/health"))
        assert response.status_code == 503
        assert response.json() == {"status": "degraded", "database": "unavailable", "scheduler": "disabled", "flows": {"onboarding": 2}}
        # The pool replaces the dead connection: the next request is fine, no restart needed.
        assert (await client.get("/health")).status_code == 200


@pytest.mark.postgres
async def test_a_page_answers_503_in_german_when_the_database_ends_its_connection(settings, db):
    signed = Signer(TEST_SECRET).sign("invitation-link", "ein-unbekannter-token-0123456789")
    async with running_app(settings) as (_, client):
        assert (await client.get(f"/einladung/{signed}")).status_code == 404  # unknown link: the neutral page
        response = await _terminate_when_waiting(settings.database_url, "invitation_link", client.get(f"/einladung/{signed}"))
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        assert "Der Dienst ist vorübergehend nicht erreichbar." in response.text
        assert (await client.get(f"/einladung/{signed}")).status_code == 404


# -- the classification, with errors the real drivers raise --------------------------------


def test_sqlite_busy_and_cannot_open_are_outages_but_a_missing_table_is_not(tmp_path):
    path = tmp_path / "busy.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError) as busy:
        other.execute("INSERT INTO t VALUES (1)")
    holder.execute("ROLLBACK")
    with pytest.raises(sqlite3.OperationalError) as cannot_open:
        sqlite3.connect(tmp_path / "no" / "such" / "folder.sqlite")
    with pytest.raises(sqlite3.OperationalError) as no_table:
        other.execute("SELECT * FROM gibt_es_nicht")
    holder.close()
    other.close()
    assert is_outage(busy.value) and is_outage(cannot_open.value)
    assert not is_outage(no_table.value)


def test_connection_failures_are_outages_and_other_errors_are_not():
    refused = ConnectionRefusedError(111, "Connection refused")
    assert is_outage(refused) and is_outage(TimeoutError())
    assert not is_outage(FileNotFoundError(2, "No such file")) and not is_outage(ValueError("kaputt"))
    wrapped = RuntimeError("while rendering")
    wrapped.__cause__ = refused
    assert is_outage(wrapped)


@pytest.mark.postgres
async def test_postgres_outage_classes_by_sqlstate(settings):
    url = settings.database_url
    connection = await asyncpg.connect(url)
    try:
        with pytest.raises(asyncpg.UniqueViolationError) as unique:
            await connection.execute("CREATE TEMP TABLE u (x int primary key); INSERT INTO u VALUES (1), (1)")
        with pytest.raises(asyncpg.UndefinedTableError) as undefined:
            await connection.execute("SELECT * FROM gibt_es_nicht")
    finally:
        await connection.close()
    assert not is_outage(unique.value) and not is_outage(undefined.value)
    parts = urlsplit(url)
    with pytest.raises(asyncpg.InvalidCatalogNameError) as missing:
        await asyncpg.connect(url.replace(parts.path, "/partnerportal_gibt_es_nicht"))
    assert not is_outage(missing.value)  # a configuration mistake, reported at start, not a 503
    victim = await asyncpg.connect(url)
    killer = await asyncpg.connect(url)
    try:
        pid = victim.get_server_pid()
        query = asyncio.ensure_future(victim.fetchval("SELECT pg_sleep(30)"))
        for _ in range(500):
            if await killer.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", pid):
                break
            await asyncio.sleep(0.02)  # polling interval, not synchronisation
        await killer.execute("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(asyncpg.PostgresError) as shutdown:
            await asyncio.wait_for(query, 30)
    finally:
        await killer.close()
        victim.terminate()
    # asyncpg reports the termination as AdminShutdownError (57P01) or, when it notices the
    # closed socket first, ConnectionDoesNotExistError (08003): an outage either way.
    assert is_outage(shutdown.value)
    assert is_outage(asyncpg.CannotConnectNowError("the database system is starting up"))
    assert is_outage(asyncpg.InternalClientError("protocol state lost"))
