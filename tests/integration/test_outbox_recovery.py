"""Outbox claims recover in seconds (issue 10, section 2; REL-1): a dispatcher claims few
mails, renews its claim while it sends, gives the claim back on every error, and a
dispatcher killed with SIGKILL holds its mails only for the short lease.

The kill test runs real `partnerportal worker` processes against the test database and a
real SMTP server (aiosmtpd) that holds the first mail mid-send; it waits on the server
receiving, never on the wall clock. Run it alone with:
    python -m pytest tests/integration/test_outbox_recovery.py -k kill"""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

from db.tables import Outbox
from jobs.outbox import claim, dispatch_due_mail, message_id
from core.settings import Settings
from core.signing import Signer
from tests.conftest import TEST_SECRET
from tests.integration.test_cli import PARTNERPORTAL, clean_env
from tests.support.smtp import SmtpServer

MAIL_FROM = "noreply@partnerportal.invalid"
OVERALL_TIMEOUT = 60  # seconds; generous: with a 2 s lease the mails go out in a few seconds


def test_by_default_a_dead_dispatchers_mails_go_out_within_a_minute():
    """The default lease plus one sweep interval is the longest a mail waits after a kill -9."""
    defaults = Settings(secret_key=TEST_SECRET)
    assert defaults.outbox_lease_seconds + defaults.sweep_interval_seconds < 60


async def _rows(db) -> list[dict]:
    return await db.fetch(Outbox.select(Outbox.id, Outbox.status, Outbox.attempts, Outbox.next_attempt_at).order_by(Outbox.id))


async def _wait_for_rows(db, predicate, timeout: float = OVERALL_TIMEOUT) -> list[dict]:
    """The outbox rows once predicate holds; the SMTP server receives a mail just before the
    dispatcher records it as sent, so the database is read until it caught up."""
    deadline = time.monotonic() + timeout
    while not predicate(rows := await _rows(db)):
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)  # polling interval, not synchronisation
    return rows


def _worker(database_url: str, smtp: SmtpServer, tmp_path) -> subprocess.Popen:
    env = clean_env(
        database_url=database_url, secret_key=TEST_SECRET, base_url="http://test",
        smtp_host=smtp.host, smtp_port=str(smtp.port), outbox_lease_seconds="2", sweep_interval_seconds="0.2",
    )
    return subprocess.Popen(
        [str(PARTNERPORTAL), "worker"], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.kill()
    _, err = process.communicate(timeout=30)
    return err.decode(errors="replace")


async def test_after_kill_9_of_a_dispatcher_its_mails_go_out_within_the_lease(factory, db, clock, database_url, tmp_path):
    # The workers run on the system clock: invite "now", so no reminder timer is due for them.
    clock.advance(seconds=(datetime.now(timezone.utc) - clock.now()).total_seconds())
    for _ in range(5):
        await factory.invite()
    async with SmtpServer() as smtp:
        smtp.hold()
        first = _worker(database_url, smtp, tmp_path)
        second = None
        try:
            assert await smtp.wait_for_held_mail(OVERALL_TIMEOUT), _stop(first)
            # The first worker claimed all five (one claim) and is stuck sending the first.
            claimed = await _rows(db)
            assert [(r["status"], r["attempts"]) for r in claimed] == [("pending", 1)] * 5
            first.kill()
            assert first.wait(timeout=30) == -9
            smtp.release()  # the dead worker's mail may still arrive: delivery is at least once
            second = _worker(database_url, smtp, tmp_path)
            expected = {message_id(row["id"], MAIL_FROM) for row in claimed}
            delivered = await smtp.wait_until(lambda msgs: expected <= {m["Message-ID"] for m in msgs}, OVERALL_TIMEOUT)
            assert delivered, f"only {len(smtp.messages)} of 5 mails arrived: {_stop(second)}"
            rows = await _wait_for_rows(db, lambda rows: {r["status"] for r in rows} == {"sent"})
        finally:
            errors = _stop(first) + (_stop(second) if second else "")
    assert {m["Message-ID"] for m in smtp.messages} == expected
    # Each mail was attempted once by the dead worker and once more by the second.
    assert [r["attempts"] for r in rows] == [2] * 5
    assert "Traceback" not in errors


# -- in one process: renewal and release ------------------------------------------------------


@pytest.fixture
def dispatch(db, settings, clock, registry):
    def run(smtp: SmtpServer, batch_size: int = 10, **changes):
        import dataclasses

        configured = dataclasses.replace(smtp.settings_for(settings), **changes)
        return dispatch_due_mail(db, configured, clock, registry, Signer(TEST_SECRET), batch_size=batch_size)

    return run


async def test_a_dispatcher_renews_its_claim_while_a_send_takes_longer_than_the_lease(factory, db, clock, dispatch):
    for _ in range(3):
        await factory.invite()
    async with SmtpServer() as smtp:
        smtp.hold()
        running = asyncio.create_task(dispatch(smtp, outbox_lease_seconds=1))
        try:
            assert await smtp.wait_for_held_mail(OVERALL_TIMEOUT)
            clock.advance(seconds=10)  # the claim's first lease is long over
            renewed = clock.now() + timedelta(seconds=1)
            await _wait_for_rows(db, lambda rows: {r["next_attempt_at"] for r in rows} == {renewed})
            assert await claim(db, clock.now(), 10, timedelta(seconds=1)) == []  # still held: nobody else takes them
            smtp.release()
            result = await asyncio.wait_for(running, OVERALL_TIMEOUT)
        finally:
            smtp.release()
            running.cancel()
    assert result.sent == 3
    assert len({m["Message-ID"] for m in smtp.messages}) == 3 and len(smtp.messages) == 3


async def test_a_cancelled_dispatch_gives_its_mails_back_at_once(factory, db, clock, dispatch):
    for _ in range(3):
        await factory.invite()
    async with SmtpServer() as smtp:
        smtp.hold()
        running = asyncio.create_task(dispatch(smtp))
        assert await smtp.wait_for_held_mail(OVERALL_TIMEOUT)
        running.cancel()  # e.g. the scheduler shuts down mid-send
        smtp.release()  # lets the SMTP client close at once instead of waiting for its timeout
        with pytest.raises(asyncio.CancelledError):
            await running
        rows = await _rows(db)
        # Not held for the 30 s lease: due again now, with the attempt counted.
        assert [(r["status"], r["next_attempt_at"], r["attempts"]) for r in rows] == [("pending", clock.now(), 1)] * 3
        assert (await dispatch(smtp)).sent == 3


async def test_a_database_error_mid_batch_gives_the_rest_back(factory, db, clock, dispatch, monkeypatch):
    """The dispatcher loses the database after the first mail: the mails it still held are
    due again at once (when the database answers), not after the lease."""
    from db.outage import DatabaseUnavailable
    from jobs import mail_preparation

    for _ in range(3):
        await factory.invite()
    real_prepare = mail_preparation.prepare_batch
    calls = 0

    async def prepare_then_fail(dispatcher, rows, now):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise DatabaseUnavailable("connection lost")
        return await real_prepare(dispatcher, rows, now)

    monkeypatch.setattr(mail_preparation, "prepare_batch", prepare_then_fail)
    async with SmtpServer() as smtp:
        with pytest.raises(DatabaseUnavailable):
            await dispatch(smtp, batch_size=1)  # the first batch goes out, the second one fails
        rows = await _rows(db)
        assert [r["status"] for r in rows] == ["sent", "pending", "pending"]
        assert [r["next_attempt_at"] for r in rows[1:]] == [clock.now(), clock.now()]
        assert [r["attempts"] for r in rows] == [1, 1, 0]  # the second was given back, the third never taken
        monkeypatch.setattr(mail_preparation, "prepare_batch", real_prepare)
        assert (await dispatch(smtp)).sent == 2
