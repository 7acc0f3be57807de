"""Reminders, status mails and expiry by moving the injected clock (no sleeping):
exactly the expected mails arrive at a real SMTP server (aiosmtpd), each linking back
to the step where the person stands."""

from __future__ import annotations

import pytest

from jobs.outbox import dispatch_due_mail
from jobs.timers import fire_due_timers
from core.signing import Signer
from tests.conftest import TEST_SECRET
from tests.support.app import running_app
from tests.support.invitee import Invitee
from tests.support.smtp import SmtpServer, link_in, parts


@pytest.fixture
async def smtp():
    async with SmtpServer() as server:
        yield server


async def tick(service, settings, smtp, clock, registry, **advance):
    """Time passes; the scheduler's two jobs run once."""
    clock.advance(**advance)
    await fire_due_timers(service)
    await dispatch_due_mail(service.db, smtp.settings_for(settings), clock, registry, Signer(TEST_SECRET))


def subjects(smtp) -> list[str]:
    return [m["Subject"] for m in smtp.messages]


async def test_an_untouched_invitation_gets_two_reminders_then_expires(factory, service, settings, smtp, clock, registry, db):
    await factory.invite(email="b.tester@abc.de")
    await tick(service, settings, smtp, clock, registry)
    assert len(smtp.messages) == 1  # the invitation
    await tick(service, settings, smtp, clock, registry, hours=71)
    assert len(smtp.messages) == 1
    await tick(service, settings, smtp, clock, registry, hours=1)  # 72 h: no progress for three days
    assert len(smtp.messages) == 2 and "Erinnerung" in smtp.messages[1]["Subject"]
    await tick(service, settings, smtp, clock, registry, hours=600)  # 672 h: two days before the end
    assert len(smtp.messages) == 3 and "Erinnerung" in smtp.messages[2]["Subject"]
    await tick(service, settings, smtp, clock, registry, hours=47)
    assert len(smtp.messages) == 3
    await tick(service, settings, smtp, clock, registry, hours=1)  # 720 h
    assert len(smtp.messages) == 4 and "abgelaufen" in smtp.messages[3]["Subject"]
    assert "/einladung/" not in parts(smtp.messages[3])[0]  # an expired invitation has no link
    for _ in range(3):
        await tick(service, settings, smtp, clock, registry, hours=200)  # never again, never twice
    assert len(smtp.messages) == 4
    assert all(m["To"] == "b.tester@abc.de" for m in smtp.messages)


async def test_a_stop_at_the_device_step_gets_the_status_mail_that_leads_back_there(
    factory, service, settings, smtp, clock, registry, db
):
    record = await factory.invite(email="b.tester@abc.de")
    async with running_app(settings, clock) as (_, client):
        person = Invitee(client, db, clock, settings.secret_key)
        await person.redeem(await person.issue_link(record.id))
        assert (await person.complete_profile()).status_code == 303
        await tick(service, settings, smtp, clock, registry)
        await tick(service, settings, smtp, clock, registry, hours=48)
        status = smtp.messages[-1]
        assert status["Subject"] == "Status Ihrer Registrierung: Aktivierung Ihres Zugangs"
        link = link_in(status)
        client.cookies.clear()
        back = Invitee(client, db, clock, settings.secret_key)
        path = "/" + link.split("/", 3)[3]
        landed = await back.redeem(path)
        assert landed.status_code == 303
        step = await back.get(landed.headers["location"])
        assert step.status_code == 303 and step.headers["location"] == "/registrierung/geraet"
    # Progress cancelled the inactivity reminder: invitation, then the status mail only.
    assert len(smtp.messages) == 2


async def test_no_reminder_after_completion_or_revocation(factory, service, settings, smtp, clock, registry):
    done = await factory.invite(email="done@abc.de")
    gone = await factory.invite(email="gone@abc.de")
    await service.send(done.id, "complete_profile", data={"first_name": "A", "last_name": "B"})
    await service.send(done.id, "activate_device")
    await service.send(gone.id, "revoke")
    await tick(service, settings, smtp, clock, registry)
    sent_before = len(smtp.messages)
    for _ in range(4):
        await tick(service, settings, smtp, clock, registry, hours=250)
    later = smtp.messages[sent_before:]
    assert not any("Erinnerung" in (m["Subject"] or "") for m in later)
    assert not any("Status Ihrer Registrierung" in (m["Subject"] or "") for m in later)
