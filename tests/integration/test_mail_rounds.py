"""The scheduler's mail job keeps one set of SMTP connections per process between its
rounds (issue 12), counted at a real server (aiosmtpd): rounds with mail share them, a
round that finds nothing closes them with QUIT, so does stopping the scheduler, and a
kept connection the network dropped in between is replaced without losing a mail or
changing its Message-ID."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

from core.clock import SystemClock
from core.signing import Signer
from db.tables import Outbox
from jobs.outbox import message_id
from jobs.scheduler import create_scheduler, send_mail, stop_scheduler
from jobs.smtp import SmtpConnections
from tests.conftest import TEST_SECRET
from tests.integration.test_cli import run
from tests.support.smtp import SmtpServer
from tests.support.tcp_proxy import TcpProxy
from workflows.service import FlowService

MAIL_FROM = "noreply@partnerportal.invalid"
WAIT = 60  # a bound for a hung test, not an expectation of speed


@pytest.fixture
async def smtp():
    async with SmtpServer() as server:
        yield server


def one_connection(settings, smtp: SmtpServer, port: int | None = None):
    configured = dataclasses.replace(smtp.settings_for(settings), smtp_connections=1, mail_from=MAIL_FROM)
    return dataclasses.replace(configured, smtp_port=port) if port else configured


async def outbox(db) -> list[dict]:
    return await db.fetch(Outbox.select(Outbox.id, Outbox.status, Outbox.attempts).order_by(Outbox.id))


async def test_rounds_share_the_connections_until_one_finds_nothing(factory, service, settings, smtp):
    configured = one_connection(settings, smtp)
    kept, signer = SmtpConnections(configured), Signer(TEST_SECRET)
    for _ in range(2):
        await factory.invite()
        await send_mail(service, configured, signer, kept)
    assert (smtp.connections, smtp.goodbyes, len(smtp.messages)) == (1, 0, 2)

    await send_mail(service, configured, signer, kept)  # nothing due: goodbye
    assert (smtp.connections, smtp.goodbyes) == (1, 1)

    await factory.invite()
    await send_mail(service, configured, signer, kept)
    assert (smtp.connections, len(smtp.messages)) == (2, 3)
    await kept.close()


async def test_a_kept_connection_lost_between_rounds_is_replaced_and_no_mail_lost(factory, service, db, settings, smtp):
    proxy = TcpProxy(smtp.host, smtp.port)
    await proxy.start()
    configured = one_connection(settings, smtp, port=proxy.port)
    kept, signer = SmtpConnections(configured), Signer(TEST_SECRET)
    try:
        await factory.invite()
        await send_mail(service, configured, signer, kept)
        await proxy.cut()  # the kept connection dies while the dispatcher waits
        await proxy.start(proxy.port)
        await factory.invite()
        await send_mail(service, configured, signer, kept)
    finally:
        await kept.close()
        await proxy.cut()
    rows = await outbox(db)
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] * 2
    assert smtp.connections == 2
    assert Counter(m["Message-ID"] for m in smtp.messages) == Counter(message_id(r["id"], MAIL_FROM) for r in rows)


async def test_a_kept_connection_dropped_mid_mail_sends_that_mail_again_with_its_message_id(factory, service, db, settings, smtp):
    """At least once across rounds too: the server stores the second round's first mail
    and hangs up before it answers; the mail goes again, over a new connection, as the same mail."""
    configured = one_connection(settings, smtp)
    kept, signer = SmtpConnections(configured), Signer(TEST_SECRET)
    await factory.invite()
    await send_mail(service, configured, signer, kept)
    smtp.drop_connection_after(2)
    await factory.invite()
    await factory.invite()
    await send_mail(service, configured, signer, kept)
    await kept.close()
    rows = await outbox(db)
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] * 3
    ids = [message_id(r["id"], MAIL_FROM) for r in rows]
    assert Counter(m["Message-ID"] for m in smtp.messages) == Counter({ids[0]: 1, ids[1]: 2, ids[2]: 1})
    assert smtp.connections == 2


async def test_stopping_the_scheduler_says_goodbye_to_the_mail_server(factory, db, registry, clock, settings, smtp):
    # APScheduler runs on the real clock (with the test's, it would skip the runs as
    # missed): the invitation is made now, so its link is still valid for the real clock.
    clock.advance(seconds=(SystemClock().now() - clock.now()).total_seconds())
    await factory.invite()
    service = FlowService(db, registry, SystemClock())
    scheduler = create_scheduler(service, 3600, 100, settings=one_connection(settings, smtp))
    mail_round = asyncio.Event()

    def finished(event) -> None:
        if event.job_id == "send_mail":
            mail_round.set()

    scheduler.add_listener(finished, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()  # the mail job runs once at start, then in an hour
    try:
        await asyncio.wait_for(mail_round.wait(), WAIT)
        assert (len(smtp.messages), smtp.connections, smtp.goodbyes) == (1, 1, 0)  # kept for the next round
    finally:
        await stop_scheduler(scheduler)
    assert smtp.goodbyes == 1


def test_the_gathering_time_is_checked_at_start(tmp_path):
    result = run("worker", cwd=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.sqlite'}", mail_gather_ms="1001")
    assert result.returncode == 2
    assert result.stderr == "Configuration error: PARTNERPORTAL_MAIL_GATHER_MS: must be between 0 and 1000, not '1001'\n"
    assert not (tmp_path / "x.sqlite").exists()
