"""Backups of a running database (issue 10, section 4): `partnerportal db backup` copies
SQLite while `serve` writes to it (online backup API) and PostgreSQL by pg_dump; the copy,
put back in place, has every invitation and needs no migration."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import time

import httpx
import pytest

from workflows import flow_snapshots
from db.engine import Database
from core.clock import SystemClock
from tests.conftest import TEST_SECRET
from tests.integration.test_cli import PARTNERPORTAL, clean_env, run, sqlite_url
from tests.support import database as test_db
from tests.support.environment import DATABASE_URL, ENGINE
from tests.support.factories import Factory
from tests.support.server import free_port
from workflows.registry import FlowRegistry
from workflows.service import FlowService

INVITATIONS = 25


async def _invite(url: str, count: int) -> list[str]:
    db = Database(url)
    await db.start(pool_size=2)
    try:
        registry = FlowRegistry.from_directory()
        await flow_snapshots.sync(db, registry)
        factory = Factory(db, FlowService(db, registry, SystemClock()))
        organisation_id = await factory.organisation("Sicherung")
        emails = [f"person{i}@sicherung.example" for i in range(count)]
        for email in emails:
            await factory.invite(organisation_id, email=email)
        return emails
    finally:
        await db.close()


def _invited(db_file) -> list[str]:
    with sqlite3.connect(db_file) as connection:
        return sorted(row[0] for row in connection.execute(
            "SELECT a.email FROM flow_instance fi JOIN account a ON a.id = fi.account"
        ))


def _serve(db_file, tmp_path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [str(PARTNERPORTAL), "serve", "--port", str(port)], cwd=tmp_path,
        env=clean_env(database_url=sqlite_url(db_file), secret_key=TEST_SECRET, sweep_interval_seconds="0.2"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.communicate()
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            return process, port
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.1)  # polling interval, not synchronisation


async def test_a_backup_of_a_running_sqlite_database_restores_every_invitation(tmp_path):
    db_file = tmp_path / "portal.sqlite"
    await test_db.migrate(sqlite_url(db_file))
    emails = await _invite(sqlite_url(db_file), INVITATIONS)
    server, port = _serve(db_file, tmp_path)
    try:
        # The server's dispatcher is sending the invitations (into the development mailbox)
        # while the backup runs: a database in use, not a quiet file.
        backup = run("db", "backup", str(tmp_path / "backup.sqlite"), cwd=tmp_path,
                     database_url=sqlite_url(db_file), secret_key=TEST_SECRET)
        assert backup.returncode == 0, backup.stderr
        assert backup.stdout == f"Backed up {sqlite_url(db_file)} to {tmp_path / 'backup.sqlite'}.\n"
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)

    # Restore: the copy takes the database's place.
    for leftover in (db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.sqlite", db_file)
    assert _invited(db_file) == sorted(emails)
    upgrade = run("db", "upgrade", cwd=tmp_path, database_url=sqlite_url(db_file), secret_key=TEST_SECRET)
    assert upgrade.stdout == "The database is up to date.\n"
    check = run("check-config", cwd=tmp_path, database_url=sqlite_url(db_file), secret_key=TEST_SECRET)
    assert check.returncode == 0, check.stderr


def test_a_backup_never_leaves_half_a_file(tmp_path):
    result = run("db", "backup", str(tmp_path / "backup.sqlite"), cwd=tmp_path,
                 database_url=sqlite_url(tmp_path / "gibt-es-nicht.sqlite"), secret_key=TEST_SECRET)
    assert result.returncode == 1
    assert result.stderr == f"Backup of {sqlite_url(tmp_path / 'gibt-es-nicht.sqlite')} failed: {tmp_path / 'gibt-es-nicht.sqlite'} does not exist\n"
    assert list(tmp_path.glob("backup.sqlite*")) == []


@pytest.mark.postgres
async def test_a_postgres_backup_restores_with_pg_restore(tmp_path):
    assert ENGINE == "postgres"
    source = await test_db.create_postgres_database(DATABASE_URL)
    target = await test_db.create_postgres_database(DATABASE_URL)
    try:
        await test_db.migrate(source)
        emails = await _invite(source, INVITATIONS)
        backup = run("db", "backup", str(tmp_path / "portal.dump"), cwd=tmp_path, database_url=source, secret_key=TEST_SECRET)
        assert backup.returncode == 0, backup.stderr
        assert ":***@" in backup.stdout
        restored = subprocess.run(["pg_restore", "--no-owner", f"--dbname={target}", str(tmp_path / "portal.dump")],
                                  capture_output=True, text=True)
        assert restored.returncode == 0, restored.stderr
        db = Database(target)
        await db.start(pool_size=1)
        try:
            from db.tables import Account, FlowInstance

            instances = await db.fetch(FlowInstance.select(FlowInstance.account.email.as_alias("email")))
            assert sorted(row["email"] for row in instances) == sorted(emails)
            assert await db.fetch(Account.select(Account.id).where(Account.email == emails[0]))
        finally:
            await db.close()
        upgrade = run("db", "upgrade", cwd=tmp_path, database_url=target, secret_key=TEST_SECRET)
        assert upgrade.stdout == "The database is up to date.\n", upgrade.stderr
    finally:
        await test_db.drop_postgres_database(DATABASE_URL, source)
        await test_db.drop_postgres_database(DATABASE_URL, target)
