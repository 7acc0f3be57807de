"""The outbox dispatcher against a real SMTP server (aiosmtpd): German content with a
working link, stable headers, retries with backoff, permanent failures, several
dispatchers at once, and no token outside the mail itself."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

import pytest

from db import links
from db.engine import Database
from db.tables import InvitationLink, Outbox, TransitionHistory
from db.outbox import retry_failed
from jobs.outbox import backoff, claim, claim_query, dispatch_due_mail, message_id
from jobs.scheduler import create_scheduler
from core.signing import Signer
from tests.conftest import TEST_SECRET
from tests.support.smtp import SmtpServer, link_in, parts
from mail.rendering import MailValues, render_mail
from workflows.actions import MAIL_KINDS
from workflows.service import FlowService
from tests.support import roles

LEASE = timedelta(seconds=30)  # a claim's lease in these direct calls of claim()

PROFILE = {"first_name": "Bernhard", "last_name": "Tester"}


@pytest.fixture
def signer() -> Signer:
    return Signer(TEST_SECRET)


@pytest.fixture
async def smtp():
    async with SmtpServer() as server:
        yield server


@pytest.fixture
def send(db, settings, clock, registry, signer, smtp):
    """Run the dispatcher once against the test SMTP server."""
    mail_settings = smtp.settings_for(settings)

    async def run(database: Database | None = None, batch_size: int = 50, **changes):
        import dataclasses

        configured = dataclasses.replace(mail_settings, **changes) if changes else mail_settings
        return await dispatch_due_mail(database or db, configured, clock, registry, signer, batch_size=batch_size)

    return run


async def outbox_rows(db, **where) -> list[dict]:
    query = Outbox.select().order_by(Outbox.id)
    for column, value in where.items():
        query = query.where(getattr(Outbox, column) == value)
    return await db.fetch(query)


async def test_the_invitation_mail_is_german_with_a_working_link(factory, db, clock, signer, smtp, send):
    record = await factory.invite(email="b.tester@example.org")
    result = await send()
    assert (result.sent, result.retried, result.failed) == (1, 0, 0)

    [message] = smtp.messages
    text, html = parts(message)
    assert message["Subject"] == "Ihre Einladung zum Partnerportal"
    assert "Guten Tag," in text and "720 Stunden" in text and "Registrierung fortsetzen" in text
    assert "720 Stunden" in html and ">Registrierung fortsetzen</a>" in html and 'lang="de"' in html

    link = link_in(message)
    assert link.startswith("http://test/einladung/")
    assert f'href="{link}"' in html
    token = signer.unsign("invitation-link", link.rsplit("/", 1)[1])
    valid = await links.find_valid(db, token, clock.now(), roles.link_open())
    assert valid is not None and valid.instance_id == record.id
    # Valid until the invitation's own expiry: 720 h after the invitation.
    assert valid.expires_at == clock.now() + timedelta(hours=720)

    [row] = await outbox_rows(db)
    assert row["status"] == "sent" and row["sent_at"] == clock.now() and row["attempts"] == 1


async def test_headers_are_stable_and_the_mail_has_text_and_html(factory, db, settings, smtp, send):
    await factory.invite(email="b.tester@example.org")
    await send()
    [message] = smtp.messages
    [row] = await outbox_rows(db)
    assert message["From"] == settings.mail_from
    assert message["To"] == "b.tester@example.org"
    assert message["Message-ID"] == f"<outbox-{row['id']}@partnerportal.invalid>" == message_id(row["id"], settings.mail_from)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert smtp.envelopes == [("noreply@partnerportal.invalid", ["b.tester@example.org"])]


async def test_a_reminder_carries_a_fresh_link_and_the_expiry(factory, service, db, clock, signer, smtp, send):
    record = await factory.invite()
    await send()
    clock.advance(hours=72)
    from jobs.timers import fire_due_timers

    await fire_due_timers(service)  # remind_inactive
    await send()
    first, reminder = smtp.messages
    assert reminder["Subject"] == "Erinnerung: Ihre Registrierung beim Partnerportal"
    text, _ = parts(reminder)
    assert "Registrierung fortsetzen" in text and "04.02.2026, 10:00 Uhr" in text
    assert link_in(first) != link_in(reminder)
    for message in (first, reminder):
        token = signer.unsign("invitation-link", link_in(message).rsplit("/", 1)[1])
        assert (await links.find_valid(db, token, clock.now(), roles.link_open())).instance_id == record.id


async def test_server_down_then_up_loses_and_duplicates_nothing(factory, db, settings, clock, registry, signer):
    records = [await factory.invite() for _ in range(3)]
    server = SmtpServer()  # its port, with nothing listening yet
    mail_settings = server.settings_for(settings)

    down = await dispatch_due_mail(db, mail_settings, clock, registry, signer)
    assert (down.sent, down.retried) == (0, 3)
    rows = await outbox_rows(db)
    assert all(r["status"] == "pending" and r["attempts"] == 1 for r in rows)
    assert all(r["next_attempt_at"] == clock.now() + backoff(1) for r in rows)
    assert all(r["last_error"].startswith("Mailserver nicht erreichbar") for r in rows)

    async with server:
        # Not due yet: the backoff holds even though the server is back.
        assert (await dispatch_due_mail(db, mail_settings, clock, registry, signer)).handled == 0
        clock.advance(minutes=1)
        up = await dispatch_due_mail(db, mail_settings, clock, registry, signer)
        again = await dispatch_due_mail(db, mail_settings, clock, registry, signer)
        messages = server.messages
    assert up.sent == 3 and again.handled == 0
    ids = [m["Message-ID"] for m in messages]
    assert sorted(ids) == sorted(message_id(r["id"], settings.mail_from) for r in rows)
    assert sorted(m["To"] for m in messages) == sorted(r.recipient for r in records)
    assert {r["status"] for r in await outbox_rows(db)} == {"sent"}


async def test_a_temporary_4xx_is_retried_after_the_backoff(factory, db, clock, smtp, send):
    await factory.invite()
    smtp.answer("451 4.3.0 Bitte später erneut versuchen")
    first = await send()
    assert first.retried == 1 and smtp.messages == []
    [row] = await outbox_rows(db)
    assert row["status"] == "pending" and row["last_error"] == "451 4.3.0 Bitte später erneut versuchen"
    assert row["next_attempt_at"] == clock.now() + timedelta(minutes=1)

    smtp.answer(None)
    assert (await send()).handled == 0  # backoff not over
    clock.advance(seconds=59)
    assert (await send()).handled == 0
    clock.advance(seconds=1)
    assert (await send()).sent == 1
    [message] = smtp.messages
    [row] = await outbox_rows(db)
    assert row["status"] == "sent" and row["attempts"] == 2 and row["last_error"] == ""
    assert message["Message-ID"].startswith(f"<outbox-{row['id']}@")


async def test_backoff_doubles_up_to_an_hour_and_then_gives_up(factory, db, clock, smtp, send):
    await factory.invite()
    smtp.answer("421 4.7.0 Zu viele Verbindungen")
    waits = []
    for _ in range(8):
        await send(mail_max_attempts=8)
        [row] = await outbox_rows(db)
        if row["status"] != "pending":
            break
        waits.append(row["next_attempt_at"] - clock.now())
        clock.advance(seconds=waits[-1].total_seconds())
    assert [w.total_seconds() / 60 for w in waits] == [1, 2, 4, 8, 16, 32, 60]
    assert row["status"] == "failed" and row["attempts"] == 8
    assert "421" in row["last_error"] and "aufgegeben nach 8 Versuchen" in row["last_error"]


async def test_a_permanent_5xx_fails_and_the_admin_can_send_it_again(factory, db, clock, smtp, send):
    record = await factory.invite()
    other_organisation = await factory.organisation()
    smtp.answer("550 5.1.1 Postfach unbekannt")
    result = await send()
    assert result.failed == 1
    [row] = await outbox_rows(db)
    assert row["status"] == "failed" and row["last_error"] == "550 5.1.1 Postfach unbekannt"
    clock.advance(hours=5)
    assert (await send()).handled == 0  # failed stays failed

    smtp.answer(None)
    assert await retry_failed(db, row["id"], other_organisation, clock.now()) is False  # not theirs
    assert (await outbox_rows(db))[0]["status"] == "failed"
    assert await retry_failed(db, row["id"], record.organisation_id, clock.now()) is True
    assert await retry_failed(db, row["id"], record.organisation_id, clock.now()) is False  # no longer failed
    assert (await send()).sent == 1
    [message] = smtp.messages
    assert message["Message-ID"] == message_id(row["id"], "noreply@partnerportal.invalid")
    assert (await outbox_rows(db))[0]["status"] == "sent"


async def test_two_dispatchers_at_once_send_each_mail_exactly_once(factory, db, database_url, smtp, send):
    for _ in range(20):
        await factory.invite()
    handles = [Database(database_url), Database(database_url)]
    for handle in handles:
        await handle.start(pool_size=2)
    try:
        results = await asyncio.gather(*[send(handle, batch_size=3) for handle in handles])
    finally:
        for handle in handles:
            await handle.close()
    assert sum(r.sent for r in results) == 20
    ids = [m["Message-ID"] for m in smtp.messages]
    assert len(ids) == 20 and len(set(ids)) == 20
    rows = await outbox_rows(db)
    assert {r["status"] for r in rows} == {"sent"} and {r["attempts"] for r in rows} == {1}
    assert len(await db.fetch(InvitationLink.select(InvitationLink.id))) == 20


async def test_a_claim_takes_at_most_the_batch_size(factory, db, clock):
    for _ in range(8):
        await factory.invite()
    first = await claim(db, clock.now(), 3, LEASE)
    second = await claim(db, clock.now(), 3, LEASE)
    assert len(first) == 3 and len(second) == 3 and not {r["id"] for r in first} & {r["id"] for r in second}
    assert {r["attempts"] for r in first + second} == {1}
    assert len(await claim(db, clock.now(), 3, LEASE)) == 2


async def test_a_claimed_mail_is_not_claimed_again_until_its_lease_ends(factory, db, clock, settings, smtp, send):
    """A dispatcher that died mid-send leaves its claim; the mail goes out after the lease."""
    assert settings.outbox_lease_seconds == LEASE.total_seconds()
    await factory.invite()
    [claimed] = await claim(db, clock.now(), 10, LEASE)
    assert await claim(db, clock.now(), 10, LEASE) == []
    assert (await send()).handled == 0
    clock.advance(seconds=LEASE.total_seconds())
    assert (await send()).sent == 1
    [row] = await outbox_rows(db)
    assert row["id"] == claimed["id"] and row["attempts"] == 2


async def test_no_token_or_link_outside_the_mail(factory, service, db, clock, signer, smtp, send, caplog):
    caplog.set_level(logging.DEBUG)
    record = await factory.invite()
    smtp.answer("451 4.3.0 Bitte später")
    await send()
    smtp.answer(None)
    clock.advance(minutes=1)
    await send()
    await service.send(record.id, "complete_profile", data=PROFILE)
    clock.advance(hours=48)
    from jobs.timers import fire_due_timers

    await fire_due_timers(service)  # remind_device: "Status Ihrer Registrierung"
    await send()
    assert [m["Subject"] for m in smtp.messages] == [
        "Ihre Einladung zum Partnerportal", "Status Ihrer Registrierung: Aktivierung Ihres Zugangs",
    ]
    secrets = []
    for message in smtp.messages:
        signed = link_in(message).rsplit("/", 1)[1]
        secrets += [signed, signer.unsign("invitation-link", signed)]
    stored = json.dumps(
        [await outbox_rows(db), await db.fetch(TransitionHistory.select()), await db.fetch(InvitationLink.select())],
        default=str,
    )
    # The test SMTP server (aiosmtpd, logger "mail.log") logs what it receives; that is not the app.
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    assert "Mail invitation" in logged  # the app did log its work
    for secret in secrets:
        assert secret not in stored
        assert secret not in logged
    assert "Guten Tag" not in stored and "Guten Tag" not in logged


async def test_a_resend_replaces_the_unsent_invitation(factory, service, db, smtp, send):
    record = await factory.invite()
    await service.send(record.id, "resend", actor="admin@test")
    result = await send()
    assert (result.sent, result.cancelled) == (1, 1)
    old, new = await outbox_rows(db)
    assert old["status"] == "cancelled" and old["last_error"] == "Durch eine neuere Einladung ersetzt."
    [message] = smtp.messages
    assert message["Message-ID"] == message_id(new["id"], "noreply@partnerportal.invalid")


async def test_a_revoked_invitation_sends_no_link(factory, service, db, smtp, send):
    record = await factory.invite()
    await service.send(record.id, "revoke", actor="admin@test")
    assert (await send()).cancelled == 1
    assert smtp.messages == []
    assert await db.fetch(InvitationLink.select(InvitationLink.id)) == []


async def test_an_expired_invitation_gets_a_mail_without_link(factory, service, db, clock, smtp, send):
    await factory.invite()
    await send()
    clock.advance(hours=720)  # the dispatcher did not run while both reminders fell due
    from jobs.timers import fire_due_timers

    await fire_due_timers(service)
    result = await send()
    # Reminders for an invitation that has run out would carry a dead link: not sent.
    assert (result.sent, result.cancelled, result.failed) == (1, 2, 0)
    assert [m["Subject"] for m in smtp.messages] == [
        "Ihre Einladung zum Partnerportal", "Ihre Einladung zum Partnerportal ist abgelaufen",
    ]
    text, _ = parts(smtp.messages[-1])
    assert "720 Stunden" in text and "/einladung/" not in text
    assert [r["status"] for r in await outbox_rows(db)] == ["sent", "cancelled", "cancelled", "sent"]


# The mails that name the inviting organisation; the others speak of the portal only.
NAME_THE_ORGANISATION = {"device_bound", "invitation", "invitation_expired"}


async def test_the_invitation_names_the_portal_with_its_article_and_the_role(factory, smtp, send):
    """Issue 11, defect 5: "zum Mein AOK Gesundheitspartnerservice", "als Leistungserbringer (Mitarbeiter)"."""
    await factory.invite(email="b.tester@example.org")
    result = await send(portal_name="Mein AOK Gesundheitspartnerservice", portal_name_gender="masculine")
    assert result.sent == 1
    [message] = smtp.messages
    text, html = parts(message)
    assert message["Subject"] == "Ihre Einladung zum Mein AOK Gesundheitspartnerservice"
    expected = "hat Sie als Leistungserbringer (Mitarbeiter) zum Mein AOK Gesundheitspartnerservice eingeladen"
    assert expected in " ".join(text.split()) and expected in " ".join(html.split())
    assert "Ihr Team vom Mein AOK Gesundheitspartnerservice" in text
    # The portal's sans-serif font stack, not the mail client's default serif.
    assert '<body style="font-family:system-ui,' in html and "sans-serif" in html


@pytest.mark.parametrize(("gender", "subject", "sentence"), [
    ("neuter", "Ihre Einladung zum Partnerportal ist abgelaufen", "Ihr Team vom Partnerportal"),
    ("feminine", "Ihre Einladung zur Partnerportal ist abgelaufen", "Ihr Team von der Partnerportal"),
    ("none", "Ihre Einladung zu Partnerportal ist abgelaufen", "Ihr Team von Partnerportal"),
])
def test_the_portal_name_takes_the_article_of_its_gender(gender, subject, sentence):
    mail = render_mail("invitation_expired", MailValues(portal_name="Partnerportal", portal_name_gender=gender))
    assert mail.subject == subject and sentence in mail.text


def test_an_admin_is_invited_as_an_admin():
    values = MailValues(portal_name="Partnerportal", role="admin", link="http://test/einladung/x", validity_hours=720)
    assert "als Leistungserbringer (Administrator) zum Partnerportal eingeladen" in render_mail("invitation", values).text


@pytest.mark.parametrize("kind", sorted(MAIL_KINDS))
def test_every_mail_kind_has_german_text_and_html(kind):
    link = "http://test/einladung/abc"
    values = MailValues(portal_name="Partnerportal", organisation_name="Pflege <Sonne>", link=link, validity_hours=720)
    mail = render_mail(kind, values)
    assert mail.subject and mail.text.startswith("Guten Tag,") and "<p>Guten Tag,</p>" in mail.html
    assert "<Sonne>" not in mail.html  # never unescaped
    if kind in NAME_THE_ORGANISATION:
        assert "Pflege &lt;Sonne&gt;" in mail.html and "Pflege <Sonne>" in mail.text
    else:
        assert "Sonne" not in mail.html and "Sonne" not in mail.text
    assert "<script" not in mail.html and 'lang="de"' in mail.html


async def test_the_scheduler_runs_the_dispatcher_when_given_settings(service, settings):
    assert [j.id for j in create_scheduler(service, 5, 100).get_jobs()] == ["sweep_timers", "compact_funnel", "simulate_drafts"]
    assert [j.id for j in create_scheduler(service, 5, 100, settings=settings).get_jobs()] == [
        "sweep_timers", "compact_funnel", "simulate_drafts", "send_mail", "retention"
    ]


async def test_the_device_mail_says_what_to_do_if_it_was_not_you(factory, service, db, smtp, send):
    record = await factory.invite()
    await service.send(record.id, "complete_profile", data=PROFILE)
    await service.send(record.id, "activate_device")
    result = await send()
    assert result.sent == 1 and result.cancelled == 1  # the invitation's link ended with the activation
    [message] = smtp.messages
    assert message["Subject"] == "Neues Gerät für Ihren Zugang zum Partnerportal"
    text, html = parts(message)
    assert "05.01.2026, 10:00 Uhr" in text  # when it happened, in German time
    assert "Das waren nicht Sie?" in text and "Administration Ihrer Organisation" in text
    assert "/einladung/" not in text and "/einladung/" not in html


@pytest.mark.sqlite_only
async def test_sqlite_claim_uses_the_partial_index(db, clock):
    plan = await db.explain(claim_query(clock.now(), 50, postgres=False, lease=LEASE))
    assert "outbox_pending_next" in plan, plan


@pytest.mark.postgres
async def test_postgres_claim_keeps_the_index_in_a_generic_plan(db, clock):
    await db.write([
        Outbox.raw(
            "INSERT INTO outbox (kind, recipient, payload, status, attempts, next_attempt_at, last_error, created_at) "
            "SELECT 'invitation', 'x@example.org', '{{}}', CASE WHEN g % 10 = 0 THEN 'pending' ELSE 'sent' END, 0, "
            "now() + (g || ' minutes')::interval, '', now() FROM generate_series(1, 20000) g"
        ),
        Outbox.raw("ANALYZE outbox"),
    ])
    sql, _ = db._compile(claim_query(clock.now(), 50, postgres=True, lease=LEASE))[0]
    async with db.engine.pool.acquire() as connection:
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        await connection.execute(f"PREPARE claim_poll AS {sql}")
        plan = await connection.fetch(
            "EXPLAIN EXECUTE claim_poll('2026-01-01T00:15:00+00:00', 1, '2026-01-01T00:00:00+00:00', 50)"
        )
        await connection.execute("DEALLOCATE claim_poll")
        await connection.execute("RESET plan_cache_mode")
    text = "\n".join(row[0] for row in plan)
    assert "outbox_pending_next" in text, text
    assert "outbox_pkey" in text and "Seq Scan" not in text, text
