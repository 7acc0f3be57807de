"""Consent at first login (PRIV-1..3), the Postfach (only one's own organisation),
and the profile (device lost, logout everywhere)."""

from __future__ import annotations

import hashlib
import re

from db import postfach
from db.tables import AuditEvent, ConsentRecord, Device, FlowInstance, MessageRead, WebSession
from tests.integration.test_twofactor import PIN, activated, login_request
from tests.support.app import running_app
from web.documents import required_documents


async def logged_in(settings, factory, db, clock, client, email="b.tester@abc.de"):
    record, person, app = await activated(settings, factory, db, clock, client, email=email)
    public_id, number = await login_request(person, email)
    await app.answer((await app.requests()).json()["requests"][0], pin=PIN, number=number)
    assert (await person.post(f"/anmelden/weiter/{public_id}")).status_code == 303
    return record, person, app


async def state_of(db, instance_id):
    return (await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == instance_id)))["state"]


async def test_first_login_asks_for_two_separate_unticked_consents(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        record, person, _ = await logged_in(settings, factory, db, clock, client)
        for path in ("/", "/postfach", "/profil/../postfach"):
            response = await person.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/einwilligung"
        page = await person.get("/einwilligung")
        boxes = re.findall(r'<input type="checkbox"[^>]*>', page.text)
        assert len(boxes) == 2 and not any("checked" in b for b in boxes)
        for words in ("Profildaten", "E-Mail-Adresse", "Rollen", "Art. 6 Abs. 1 Satz 1 lit. a DSGVO", "widerrufen"):
            assert words in page.text
        only_terms = await person.post("/einwilligung", data={"accept_terms": "ja"})
        assert only_terms.status_code == 422
        assert "Bitte willigen Sie in die Verarbeitung" in only_terms.text
        assert re.search(r'id="accept_terms"[^>]*checked', only_terms.text)  # the other choice is kept
        assert await db.fetch(ConsentRecord.select()) == []
        assert (await person.accept_consent()).status_code == 303
        assert "Herzlich Willkommen, Bernhard Tester." in (await person.get("/")).text
    records = await db.fetch(ConsentRecord.select().order_by(ConsentRecord.id))
    documents = {d.key: d for d in required_documents()}
    assert [(r["document"], r["action"]) for r in records] == [("datenschutz", "given"), ("nutzungsbedingungen", "given")]
    for r in records:
        doc = documents[r["document"]]
        assert r["version"] == doc.version
        assert r["text_sha256"] == hashlib.sha256(doc.text.encode()).hexdigest()
    assert await state_of(db, record.id) == "active"  # consent and done fired


async def test_withdrawing_takes_one_click_and_closes_the_postfach_at_once(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, person, _ = await logged_in(settings, factory, db, clock, client)
        await person.accept_consent()
        assert (await person.get("/postfach")).status_code == 200
        profile = await person.get("/profil")
        assert profile.text.count("Einwilligung widerrufen") == 2
        withdrawn = await person.post("/profil/einwilligung/datenschutz/widerrufen")
        assert withdrawn.status_code == 303
        closed = await person.get("/postfach")
        assert closed.status_code == 303 and closed.headers["location"] == "/einwilligung"
        profile = await person.get("/profil")
        assert "widerrufen" in profile.text and "erneut einwilligen" in profile.text
    actions = [r["action"] for r in await db.fetch(ConsentRecord.select(ConsentRecord.action).order_by(ConsentRecord.id))]
    assert actions == ["given", "given", "withdrawn"]
    assert await db.fetch(AuditEvent.select().where(AuditEvent.event == "consent_withdrawn"))


async def test_a_new_document_version_asks_again(settings, factory, db, clock, monkeypatch):
    from web import documents

    async with running_app(settings, clock) as (_, client):
        _, person, _ = await logged_in(settings, factory, db, clock, client)
        await person.accept_consent()
        assert (await person.get("/postfach")).status_code == 200
        newer = documents.Document("datenschutz", "Datenschutzerklärung", "2027-01", "Neuer Text.")
        original = documents.load

        def load(key, directory=documents.DOCUMENTS_DIR):
            return newer if key == "datenschutz" else original(key, directory)

        monkeypatch.setattr(documents, "load", load)
        again = await person.get("/postfach")
        assert again.status_code == 303 and again.headers["location"] == "/einwilligung"


async def test_postfach_lists_pages_searches_and_marks_read_per_person(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        record, person, _ = await logged_in(settings, factory, db, clock, client)
        await person.accept_consent()
        org = record.organisation_id
        ids = []
        for i in range(25):
            rows = await db.write([postfach.deliver_step(org, "Bereich Finanzen", f"Zahlungsavis {i:03d}", f"Betrag {i}", clock.now())])
            ids.append(rows[0][0]["id"])
        other = await factory.organisation()
        await db.write([postfach.deliver_step(other, "Bereich Finanzen", "Geheim für andere", "x", clock.now())])
        inbox = await person.get("/postfach")
        assert inbox.text.count("Ungelesen") == 20 and "Zahlungsavis 024" in inbox.text
        assert "Geheim für andere" not in inbox.text
        older = re.search(r'href="(/postfach\?[^"]*cursor=\d+)"', inbox.text).group(1).replace("&amp;", "&")
        assert (await person.get(older)).text.count("Zahlungsavis 0") == 5
        found = await person.get("/postfach?q=avis 007")
        assert "Zahlungsavis 007" in found.text and "Zahlungsavis 008" not in found.text
        assert (await person.get(f"/postfach/{ids[20]}")).status_code == 200
        assert await db.fetch(MessageRead.select()) == []  # a GET changes nothing (SES-4)
        opened = await person.post(f"/postfach/{ids[20]}/oeffnen")
        assert opened.status_code == 303
        message = await person.get(opened.headers["location"])
        assert "Zahlungsavis 020" in message.text and "Betrag 20" in message.text
        inbox = await person.get("/postfach")
        assert inbox.text.count("Ungelesen") == 19
        foreign = (await db.fetch(postfach.PostfachMessage.select().where(postfach.PostfachMessage.organisation == other)))[0]["id"]
        assert (await person.get(f"/postfach/{foreign}", headers={"accept": "text/html"})).status_code == 404
        assert (await person.post(f"/postfach/{foreign}/oeffnen", headers={"accept": "text/html"})).status_code == 404
    reads = await db.fetch(MessageRead.select(MessageRead.account))
    assert reads == [{"account": record.account_id}]


async def test_device_lost_revokes_it_and_logs_out_everywhere(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        record, person, app = await logged_in(settings, factory, db, clock, client)
        await person.accept_consent()
        lost = await person.post("/profil/geraet-verloren")
        assert lost.status_code == 303
        assert "Herzlich Willkommen" not in (await person.get("/", follow_redirects=True)).text
        assert (await app.requests()).status_code == 401
    device = await db.fetch_one(Device.select(Device.revoked_at))
    assert device["revoked_at"] is not None
    assert await state_of(db, record.id) == "locked"
    assert all(s["ended_at"] for s in await db.fetch(WebSession.select(WebSession.ended_at).where(WebSession.account == record.account_id)))


async def test_logout_everywhere_ends_every_session(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        record, person, _ = await logged_in(settings, factory, db, clock, client)
        await person.accept_consent()
        from tests.support.admin import login_session

        await login_session(db, clock, record.account_id, record.organisation_id, consent=False)
        assert (await person.post("/profil/ueberall-abmelden")).status_code == 303
    sessions = await db.fetch(WebSession.select(WebSession.ended_at).where(WebSession.account == record.account_id))
    assert len(sessions) >= 3 and all(s["ended_at"] is not None for s in sessions)


async def test_documents_are_readable_without_login(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        for doc in required_documents():
            page = await client.get(f"/dokumente/{doc.key}")
            assert page.status_code == 200 and doc.title in page.text and doc.version in page.text
        assert (await client.get("/dokumente/unbekannt", headers={"accept": "text/html"})).status_code == 404
