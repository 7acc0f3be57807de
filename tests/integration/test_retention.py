"""Retention (GDPR Art. 5(1)(e); issue 10, section 4): each kind of data is deleted by
the scheduler's retention job once older than its setting, in batches, and not a day
earlier. Time moves with the clock, never by sleeping."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from db import retention, sessions
from db.audit import audit_step
from db.tables import (
    AuditEvent, BarrierReport, CsvImport, CsvImportRow, DevMail, LoginChallenge, Outbox, WebSession,
)
from jobs.outbox import dispatch_due_mail
from jobs.retention import purge_expired_data
from core.signing import Signer
from tests.conftest import TEST_SECRET

TABLES = {
    "csv_import": CsvImport, "csv_import_row": CsvImportRow, "barrier_report": BarrierReport, "web_session": WebSession,
    "login_challenge": LoginChallenge, "audit_event": AuditEvent, "outbox": Outbox, "dev_mail": DevMail,
}


async def counts(db) -> dict[str, int]:
    return {name: len(await db.fetch(table.select(table.id))) for name, table in TABLES.items()}


async def _one_of_each(factory, db, clock, settings, registry):
    """At the clock's now: one row of every kind the retention rules cover."""
    organisation_id = await factory.organisation()
    account_id = await factory.account(organisation_id, role="admin")
    await factory.invite(organisation_id)  # its invitation mail goes to the development mailbox
    await dispatch_due_mail(db, settings, clock, registry, Signer(TEST_SECRET))
    now = clock.now()
    [upload] = (await db.write([CsvImport.insert(CsvImport(
        organisation=organisation_id, account=account_id, filename="mitarbeitende.csv", created_at=now,
    )).returning(CsvImport.id)]))[0]
    await db.write([
        CsvImportRow.insert(*[CsvImportRow(csv_import=upload["id"], line=i, email=f"p{i}@example.org") for i in range(2, 5)]),
        BarrierReport.insert(BarrierReport(description="Kontrast zu gering", email="melder@example.org", created_at=now)),
        LoginChallenge.insert(LoginChallenge(
            public_id="anfrage-1", account=account_id, browser_token_hash="h", number="42", nonce="n",
            created_at=now, expires_at=now + timedelta(minutes=2),
        )),
        audit_step("login", now, actor=f"account:{account_id}", organisation_id=organisation_id),
        # A mail still waiting is never deleted, however old.
        Outbox.insert(Outbox(organisation=organisation_id, kind="invitation", recipient="wartet@example.org",
                             status="pending", created_at=now, next_attempt_at=now + timedelta(days=9999))),
    ])
    await sessions.create(db, "login", account_id, organisation_id, now, timedelta(hours=12))


async def test_each_kind_goes_after_its_retention_and_not_before(factory, db, clock, settings, registry):
    await _one_of_each(factory, db, clock, settings, registry)
    start = clock.now()
    assert await counts(db) == {
        "csv_import": 1, "csv_import_row": 3, "barrier_report": 1, "web_session": 1, "login_challenge": 1,
        "audit_event": 1, "outbox": 2, "dev_mail": 1,
    }

    async def after(days: float) -> dict[str, int]:
        clock.advance(seconds=(start + timedelta(days=days) - clock.now()).total_seconds())
        await purge_expired_data(db, settings, clock)
        return await counts(db)

    assert (await after(6.9))["dev_mail"] == 1
    assert await after(7.1) == {
        "csv_import": 1, "csv_import_row": 3, "barrier_report": 1, "web_session": 1, "login_challenge": 1,
        "audit_event": 1, "outbox": 2, "dev_mail": 0,
    }
    assert (await after(29.9))["csv_import"] == 1
    assert await after(30.1) == {
        "csv_import": 0, "csv_import_row": 0, "barrier_report": 1, "web_session": 0, "login_challenge": 0,
        "audit_event": 1, "outbox": 2, "dev_mail": 0,
    }
    assert (await after(89.9))["outbox"] == 2
    assert (await after(90.1))["outbox"] == 1  # the sent one; the waiting one stays
    assert (await after(364.9))["barrier_report"] == 1
    assert await after(365.1) == {
        "csv_import": 0, "csv_import_row": 0, "barrier_report": 0, "web_session": 0, "login_challenge": 0,
        "audit_event": 0, "outbox": 1, "dev_mail": 0,
    }


async def test_retention_follows_the_settings(factory, db, clock, settings, registry):
    await _one_of_each(factory, db, clock, settings, registry)
    short = dataclasses.replace(settings, retention_barrier_report_days=1, retention_audit_days=1)
    clock.advance(days=1, seconds=1)
    deleted = await purge_expired_data(db, short, clock)
    assert deleted["barrier_reports"] == 1 and deleted["audit_events"] == 1
    assert deleted["csv_imports"] == 0 and deleted["sessions"] == 0


async def test_a_backlog_is_deleted_in_batches(db, clock):
    await db.write([BarrierReport.insert(*[BarrierReport(description=f"Meldung {i}", created_at=clock.now()) for i in range(7)])])
    rule = next(r for r in retention.RULES if r.name == "barrier_reports")
    clock.advance(days=400)
    assert await retention.purge(db, rule, clock.now() - timedelta(days=365), batch=3) == 7
    assert await db.fetch(BarrierReport.select(BarrierReport.id)) == []
