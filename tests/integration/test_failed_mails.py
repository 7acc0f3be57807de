"""Failed mails in the Nutzerverwaltung (issue 10, section 3): the admin reads why in
German, with the mail server's answer, and a second click on "Erneut senden" is harmless."""

from __future__ import annotations

import html

import pytest

from db.tables import AuditEvent, Outbox
from jobs.outbox import dispatch_due_mail
from core.signing import Signer
from tests.conftest import TEST_SECRET
from tests.integration.test_users import admin_of
from tests.support.smtp import SmtpServer
from web.mail_failures import explain


@pytest.mark.parametrize(
    ("last_error", "german"),
    [
        ("550 5.1.1 User unknown", "Die Empfängeradresse wurde vom Mailserver abgelehnt. Bitte prüfen Sie, ob es die Adresse gibt."),
        ("552 5.2.2 Mailbox full", "Das Postfach der Empfängerin oder des Empfängers ist voll."),
        ("554 5.7.1 Spam", "Der Mailserver hat die E-Mail abgelehnt (zum Beispiel als Spam)."),
        ("535 5.7.8 Authentication failed", "Der Mailserver hat die E-Mail dauerhaft abgelehnt."),
        ("451 4.3.0 Später (aufgegeben nach 30 Versuchen)",
         "Der Mailserver hat die E-Mail wiederholt vorübergehend abgelehnt; die Zustellung wurde aufgegeben."),
        ("Mailserver nicht erreichbar: ConnectionRefusedError (aufgegeben nach 30 Versuchen)",
         "Der Mailserver war nicht erreichbar; die Zustellung wurde nach mehreren Versuchen aufgegeben."),
        ("Mailserver lehnt die Verbindung ab: 535 Auth", "Der Mailserver lehnt die Verbindung des Portals ab. Bitte wenden Sie sich an den technischen Support."),
        ("Interner Fehler: KeyError", "Die E-Mail konnte wegen eines internen Fehlers nicht erstellt werden."),
        ("", "Die E-Mail konnte nicht zugestellt werden."),
    ],
)
def test_failure_reasons_in_german(last_error, german):
    assert explain(last_error) == german


async def test_the_admin_sees_why_and_a_second_click_is_harmless(settings, factory, db, clock, registry):
    async with admin_of(settings, factory, db, clock) as (admin, organisation_id, _):
        record = await factory.invite(organisation_id)
        async with SmtpServer() as smtp:
            smtp.answer("550 5.1.1 <invitee@example.org>: Recipient address rejected")
            await dispatch_due_mail(db, smtp.settings_for(settings), clock, registry, Signer(TEST_SECRET))
        [mail] = await db.fetch(Outbox.select().where(Outbox.instance == record.id))
        assert mail["status"] == "failed"

        detail = html.unescape((await admin.get(f"/nutzerverwaltung/{record.id}")).text)
        assert "Versand fehlgeschlagen" in detail
        assert "Die Empfängeradresse wurde vom Mailserver abgelehnt. Bitte prüfen Sie, ob es die Adresse gibt." in detail
        assert "550 5.1.1 <invitee@example.org>: Recipient address rejected" in detail

        url = f"/nutzerverwaltung/{record.id}/mail/{mail['id']}/erneut-senden"
        first = await admin.post(url)
        second = await admin.post(url)  # a double click, or another tab
        assert first.status_code == second.status_code == 303
        assert first.headers["location"] == second.headers["location"] == f"/nutzerverwaltung/{record.id}"
        [again] = await db.fetch(Outbox.select().where(Outbox.instance == record.id))
        assert (again["status"], again["attempts"], again["last_error"]) == ("pending", 0, "")
        retries = await db.fetch(AuditEvent.select(AuditEvent.id).where(AuditEvent.event == "mail_retry"))
        assert len(retries) == 1  # the second click changed nothing

        other = await factory.invite(await factory.organisation())
        [foreign] = await db.fetch(Outbox.select(Outbox.id).where(Outbox.instance == other.id))
        assert (await admin.post(f"/nutzerverwaltung/{record.id}/mail/{foreign['id']}/erneut-senden")).status_code == 404
