"""Mail in batches (issue 12): a claimed batch goes out over a few kept SMTP connections,
counted at a real server (aiosmtpd); a connection that drops mid-batch loses no mail and
the mail it carried keeps its Message-ID when sent again; values from settings and the
database cannot add headers or recipients."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import pytest

from core.signing import Signer
from db.tables import Account, Outbox
from jobs.outbox import backoff, dispatch_due_mail, message_id
from jobs.smtp import SmtpConnections
from tests.conftest import TEST_SECRET
from tests.integration.test_cli import run
from tests.support.smtp import SmtpServer
from tests.support.tcp_proxy import TcpProxy

MAIL_FROM = "noreply@partnerportal.invalid"
OVERALL_TIMEOUT = 60  # seconds a held mail may take to reach the server


@pytest.fixture
async def smtp():
    async with SmtpServer() as server:
        yield server


@pytest.fixture
def send(db, settings, clock, registry):
    """Run the dispatcher once against `server` (default: the test SMTP server)."""

    def run_dispatcher(server: SmtpServer, batch_size: int = 50, port: int | None = None, **changes):
        configured = dataclasses.replace(server.settings_for(settings), **changes)
        if port is not None:
            configured = dataclasses.replace(configured, smtp_port=port)
        return dispatch_due_mail(db, configured, clock, registry, Signer(TEST_SECRET), batch_size=batch_size)

    return run_dispatcher


async def rows(db) -> list[dict]:
    return await db.fetch(Outbox.select(Outbox.id, Outbox.status, Outbox.attempts, Outbox.next_attempt_at, Outbox.last_error).order_by(Outbox.id))


def expected_ids(outbox_rows: list[dict]) -> set[str]:
    return {message_id(row["id"], MAIL_FROM) for row in outbox_rows}


async def test_a_batch_goes_out_over_one_connection(factory, db, smtp, send):
    for _ in range(12):
        await factory.invite()
    result = await send(smtp, smtp_connections=1)
    assert result.sent == 12
    assert smtp.connections == 1
    assert sorted(m["Message-ID"] for m in smtp.messages) == sorted(expected_ids(await rows(db)))


@pytest.mark.parametrize("reply", ["550 5.1.1 Postfach unbekannt", "452 4.2.2 Postfach voll"])
async def test_a_refused_recipient_leaves_the_connection_ready_for_the_next_mail(factory, db, smtp, send, reply):
    """A refusal at RCPT leaves an open envelope on the server: without RSET, the next
    MAIL on the same connection is refused too ("503 nested MAIL command")."""
    await factory.invite(email="unbekannt@example.org")
    await factory.invite(email="c.tester@example.org")
    smtp.refuse_recipient("unbekannt@example.org", reply)
    result = await send(smtp, smtp_connections=1)
    assert (result.sent, result.failed + result.retried) == (1, 1)
    assert smtp.connections == 1 and smtp.resets == 1
    assert smtp.envelopes == [(MAIL_FROM, ["c.tester@example.org"])]
    refused, accepted = await rows(db)
    assert refused["status"] == ("failed" if reply.startswith("5") else "pending") and refused["last_error"] == reply
    assert accepted["status"] == "sent"


async def test_several_batches_of_a_round_share_the_connections(factory, db, smtp, send):
    for _ in range(12):
        await factory.invite()
    result = await send(smtp, batch_size=4, smtp_connections=2)
    assert result.sent == 12
    assert smtp.connections == 2  # three batches, the same two connections
    assert len({m["Message-ID"] for m in smtp.messages}) == 12
    assert {r["status"] for r in await rows(db)} == {"sent"}


async def test_connections_kept_by_the_caller_serve_several_rounds(factory, db, settings, clock, registry, smtp):
    configured = dataclasses.replace(smtp.settings_for(settings), smtp_connections=1)
    kept = SmtpConnections(configured)
    signer = Signer(TEST_SECRET)
    try:
        for _ in range(3):
            await factory.invite()
            assert (await dispatch_due_mail(db, configured, clock, registry, signer, connections=kept)).sent == 1
    finally:
        await kept.close()
    assert smtp.connections == 1 and len(smtp.messages) == 3


async def test_a_connection_dropped_mid_batch_loses_no_mail(factory, db, smtp, send):
    """The server takes the fourth mail and hangs up before it answers: the dispatcher opens
    a new connection and sends that mail again (same Message-ID), then the rest."""
    for _ in range(8):
        await factory.invite()
    smtp.drop_connection_after(4)
    result = await send(smtp, smtp_connections=1)
    assert result.sent == 8 and result.handled == 8
    assert smtp.connections == 2
    outbox = await rows(db)
    assert {r["status"] for r in outbox} == {"sent"} and {r["attempts"] for r in outbox} == {1}
    arrived = Counter(m["Message-ID"] for m in smtp.messages)
    assert set(arrived) == expected_ids(outbox)
    fourth = message_id(outbox[3]["id"], MAIL_FROM)
    assert arrived == Counter({**{mid: 1 for mid in expected_ids(outbox)}, fourth: 2})


async def test_a_connection_cut_mid_batch_leaves_the_rest_for_later(factory, db, clock, smtp, send):
    """The network goes away while a mail is on the wire and stays away: no mail is marked
    sent, all stay in the outbox (backoff) and go out, each with its Message-ID, once the
    server is reachable again."""
    for _ in range(5):
        await factory.invite()
    proxy = TcpProxy(smtp.host, smtp.port)
    await proxy.start()
    smtp.hold()
    running = asyncio.create_task(send(smtp, port=proxy.port, smtp_connections=1))
    try:
        assert await smtp.wait_for_held_mail(OVERALL_TIMEOUT)
        await proxy.cut()  # the connection drops, and no new one can be opened
        assert await smtp.wait_for_abandoned_mail(OVERALL_TIMEOUT)  # the server dropped that mail
        result = await asyncio.wait_for(running, OVERALL_TIMEOUT)
    finally:
        smtp.release()
        running.cancel()
    assert (result.sent, result.retried) == (0, 5) and smtp.messages == []
    outbox = await rows(db)
    assert [(r["status"], r["attempts"]) for r in outbox] == [("pending", 1)] * 5
    assert {r["next_attempt_at"] for r in outbox} == {clock.now() + backoff(1)}
    assert {r["last_error"].split(":")[0] for r in outbox} == {"Mailserver nicht erreichbar"}

    await proxy.start(proxy.port)
    clock.advance(seconds=backoff(1).total_seconds())
    again = await send(smtp, port=proxy.port, smtp_connections=1)
    await proxy.cut()
    assert again.sent == 5
    outbox = await rows(db)
    assert [(r["status"], r["attempts"]) for r in outbox] == [("sent", 2)] * 5
    assert sorted(m["Message-ID"] for m in smtp.messages) == sorted(expected_ids(outbox))


async def test_a_server_that_refuses_connections_keeps_every_mail(factory, db, clock, send):
    for _ in range(4):
        await factory.invite()
    nobody = SmtpServer()  # its port, nothing listening
    result = await send(nobody, batch_size=2)
    # The first batch meets the closed port; the round stops instead of trying every batch.
    assert (result.sent, result.retried) == (0, 2)
    outbox = await rows(db)
    assert [r["attempts"] for r in outbox] == [1, 1, 0, 0] and {r["status"] for r in outbox} == {"pending"}


# -- what a value may not do to the mail ------------------------------------------------------


async def test_line_breaks_in_the_portal_name_and_sender_add_no_header(factory, db, smtp, send):
    await factory.invite(email="b.tester@example.org")
    result = await send(
        smtp,
        portal_name="Portal\r\nBcc: evil@example.org\r\nX-Injected: ja",
        mail_from="Pflegedienst Müller\r\nBcc: evil@example.org <noreply@partnerportal.invalid>",
    )
    assert result.sent == 1
    [message] = smtp.messages
    assert smtp.envelopes == [(MAIL_FROM, ["b.tester@example.org"])]
    assert "Bcc" not in message and "X-Injected" not in message
    assert message["Subject"] == "Ihre Einladung zum Portal  Bcc: evil@example.org  X-Injected: ja"
    [sender] = message["From"].addresses
    assert sender.addr_spec == MAIL_FROM  # the name stays a name, spaces where the line breaks were
    assert " ".join(sender.display_name.split()) == "Pflegedienst Müller Bcc: evil@example.org"


async def test_a_recipient_that_would_inject_fails_and_is_not_sent(factory, db, smtp, send):
    record = await factory.invite(email="b.tester@example.org")
    hostile = "b.tester@example.org\r\nRCPT TO:<evil@example.org>"
    await db.write([
        Outbox.update({Outbox.recipient: hostile}).where(Outbox.instance == record.id),
        Account.update({Account.email: hostile}).where(Account.id == record.account_id),
    ])
    await factory.invite(email="c.tester@example.org")
    result = await send(smtp)
    assert (result.sent, result.failed) == (1, 1)
    assert smtp.envelopes == [(MAIL_FROM, ["c.tester@example.org"])]
    first, second = await rows(db)
    assert first["status"] == "failed" and first["last_error"] == "Ungültige Empfängeradresse."
    assert second["status"] == "sent"


async def test_an_international_domain_is_sent_in_idna(factory, smtp, send):
    await factory.invite(email="anna@bücher.de")
    assert (await send(smtp)).sent == 1
    [message] = smtp.messages
    assert smtp.envelopes == [(MAIL_FROM, ["anna@xn--bcher-kva.de"])]
    assert message["To"] == "anna@xn--bcher-kva.de"


def test_the_number_of_connections_is_checked_at_start(tmp_path):
    result = run("worker", cwd=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.sqlite'}", smtp_connections="33")
    assert result.returncode == 2
    assert result.stderr == "Configuration error: PARTNERPORTAL_SMTP_CONNECTIONS: must be between 1 and 32, not '33'\n"
    assert not (tmp_path / "x.sqlite").exists()
