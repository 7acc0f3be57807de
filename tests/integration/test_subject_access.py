"""Auskunft (GDPR Art. 15; issue 10, section 4): everything stored about a person, for an
admin of their organisation (page and JSON) and by `partnerportal person export`;
no secret (key, PIN hash, link or code hash) in it; other organisations get 404."""

from __future__ import annotations

import json
from datetime import timedelta

from db import sessions, subject_access
from db.tables import AuditEvent, Device
from tests.integration.test_cli import run, sqlite_url
from tests.integration.test_users import admin_of
from tests.support.admin import give_consent
from tests.support import database as test_db

SECRET_COLUMNS = ("pin_hash", "public_key", "token_hash", "code_hash", "browser_token_hash", "nonce")


async def _person_with_everything(factory, db, clock, organisation_id: int, email: str):
    record = await factory.invite(organisation_id, email=email)
    account_id = record.account_id
    await give_consent(db, clock, account_id, organisation_id)
    await db.write([Device.insert(Device(
        public_id="geraet-1", account=account_id, organisation=organisation_id, public_key='{"kty":"EC"}',
        pin_hash="$argon2id$geheim", created_at=clock.now(),
    ))])
    await sessions.create(db, "login", account_id, organisation_id, clock.now(), timedelta(hours=1))
    return record


async def test_the_admin_gets_everything_about_a_person_of_their_organisation(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, organisation_id, _):
        record = await _person_with_everything(factory, db, clock, organisation_id, "auskunft@example.org")
        detail = await admin.get(f"/nutzerverwaltung/{record.id}")
        assert f'href="/nutzerverwaltung/{record.id}/auskunft"' in detail.text

        page = await admin.get(f"/nutzerverwaltung/{record.id}/auskunft")
        assert page.status_code == 200
        assert "Auskunft über gespeicherte Daten" in page.text.replace("\u00ad", "") and "auskunft@example.org" in page.text
        assert "Eingeladen" in page.text  # the state as the flow file labels it
        for heading in ("Verlauf", "E-Mails", "Einwilligungen", "Geräte", "Sitzungen"):
            assert f">{heading}</h" in page.text.replace("\u00ad", "")

        exported = await admin.get(f"/nutzerverwaltung/{record.id}/auskunft.json")
        assert exported.headers["content-disposition"] == f'attachment; filename="auskunft-{record.id}.json"'
        data = exported.json()
        assert data["account"]["email"] == "auskunft@example.org"
        [invitation] = data["invitations"]
        assert invitation["state"] == "invited" and invitation["history"][0]["event"] == "invite"
        assert [m["kind"] for m in invitation["mails"]] == ["invitation"]
        assert {c["action"] for c in data["consent_records"]} == {"given"}
        assert [d["public_id"] for d in data["devices"]] == ["geraet-1"]
        assert len(data["sessions"]) == 1
        text = exported.text
        assert "geheim" not in text and "argon2" not in text and "kty" not in text
        assert not any(column in text for column in SECRET_COLUMNS)
        looked = await db.fetch(AuditEvent.select(AuditEvent.id).where(AuditEvent.event == "subject_access"))
        assert len(looked) == 2  # the page and the JSON, each recorded

        stranger = await factory.invite(await factory.organisation(), email="fremd@example.org")
        assert (await admin.get(f"/nutzerverwaltung/{stranger.id}/auskunft")).status_code == 404
        assert (await admin.get(f"/nutzerverwaltung/{stranger.id}/auskunft.json")).status_code == 404


async def test_staff_cannot_request_an_export(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock, role="staff") as (staff, organisation_id, _):
        record = await factory.invite(organisation_id)
        assert (await staff.get(f"/nutzerverwaltung/{record.id}/auskunft.json")).status_code == 403


async def test_the_export_covers_every_account_with_the_address(factory, db, clock):
    first = await _person_with_everything(factory, db, clock, await factory.organisation(), "zweimal@example.org")
    second = await factory.invite(await factory.organisation(), email="zweimal@example.org")
    ids = await subject_access.accounts_with_email(db, " Zweimal@Example.org ")
    assert ids == [first.account_id, second.account_id]


async def test_person_export_on_the_command_line(tmp_path):
    url = sqlite_url(tmp_path / "cli.sqlite")
    await test_db.migrate(url)
    created = run("admin", "create", "--org", "Pflege Süd", "--email", "chefin@sued.example", "--first-name", "Ada",
                  cwd=tmp_path, database_url=url)
    assert created.returncode == 0, created.stderr
    exported = run("person", "export", "--email", "chefin@sued.example", cwd=tmp_path, database_url=url)
    assert exported.returncode == 0, exported.stderr
    [person] = json.loads(exported.stdout)
    assert person["account"]["first_name"] == "Ada" and person["account"]["organisation"] == "Pflege Süd"
    assert person["invitations"][0]["history"][0]["actor"] == "cli:admin-create"
    text = run("person", "export", "--email", "chefin@sued.example", "--format", "text", cwd=tmp_path, database_url=url)
    assert text.stdout.startswith("Account ") and "first_name: Ada" in text.stdout
    unknown = run("person", "export", "--email", "niemand@example.org", cwd=tmp_path, database_url=url)
    assert unknown.returncode == 1 and unknown.stderr == "Nothing is stored about niemand@example.org.\n"
