"""Consent records are written once however often, and however concurrently, the same
consent is given or withdrawn (PRIV-1: one record per decision, append-only)."""

from __future__ import annotations

import asyncio
import json

from db.tables import AuditEvent, ConsentRecord
from tests.integration.test_consent_postfach import logged_in, state_of
from tests.support.app import running_app

BOTH = {"accept_privacy": "ja", "accept_terms": "ja"}


async def records(db) -> list[tuple[str, str]]:
    rows = await db.fetch(ConsentRecord.select(ConsentRecord.document, ConsentRecord.action).order_by(ConsentRecord.id))
    return [(r["document"], r["action"]) for r in rows]


async def audit_events(db, event: str) -> list[dict]:
    rows = await db.fetch(AuditEvent.select(AuditEvent.details).where(AuditEvent.event == event).order_by(AuditEvent.id))
    return [json.loads(r["details"]) for r in rows]


async def test_parallel_first_consents_write_each_record_once_priv_1(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        record, person, _ = await logged_in(settings, factory, db, clock, client)
        await person.get("/einwilligung")
        responses = await asyncio.gather(*(person.post("/einwilligung", data=BOTH) for _ in range(10)))
        assert [r.status_code for r in responses] == [303] * 10
        assert (await person.get("/postfach")).status_code == 200
    assert await records(db) == [("datenschutz", "given"), ("nutzungsbedingungen", "given")]
    assert len(await audit_events(db, "consent_given")) == 1
    assert await state_of(db, record.id) == "active"


async def test_giving_a_consent_again_writes_nothing_new_priv_1(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, person, _ = await logged_in(settings, factory, db, clock, client)
        assert (await person.accept_consent()).status_code == 303
        again = await person.post("/einwilligung", data=BOTH)  # a second click, or a reload of the POST
        assert again.status_code == 303 and again.headers["location"] == "/"
    assert await records(db) == [("datenschutz", "given"), ("nutzungsbedingungen", "given")]
    assert len(await audit_events(db, "consent_given")) == 1


async def test_parallel_withdrawals_and_renewals_write_one_record_each_priv_3(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, person, _ = await logged_in(settings, factory, db, clock, client)
        await person.accept_consent()
        withdrawals = await asyncio.gather(
            *(person.post("/profil/einwilligung/datenschutz/widerrufen") for _ in range(10))
        )
        assert [r.status_code for r in withdrawals] == [303] * 10
        assert (await person.get("/postfach")).headers["location"] == "/einwilligung"
        renewals = await asyncio.gather(*(person.post("/einwilligung", data=BOTH) for _ in range(10)))
        assert [r.status_code for r in renewals] == [303] * 10
        assert (await person.get("/postfach")).status_code == 200
    assert await records(db) == [
        ("datenschutz", "given"), ("nutzungsbedingungen", "given"), ("datenschutz", "withdrawn"), ("datenschutz", "given"),
    ]
    assert len(await audit_events(db, "consent_withdrawn")) == 1
    # The renewal names only the document it actually renewed.
    assert [sorted(details) for details in await audit_events(db, "consent_given")] == [
        ["datenschutz", "nutzungsbedingungen"], ["datenschutz"],
    ]
