"""Nutzerverwaltung over HTTP: access, "Nutzer anlegen" with every validation rule,
row actions from the flow, detail view, cross-organisation isolation."""

from __future__ import annotations

import dataclasses
import json
import re
from contextlib import asynccontextmanager

import pytest

from db import links
from db.tables import Account, FlowInstance, Outbox, TransitionHistory, WebSession
from tests.support.admin import AdminBrowser, login_session
from tests.support.app import running_app
from tests.support.environment import require_graphviz
from tests.support import roles
from workflows.registry import FlowRegistry


@asynccontextmanager
async def admin_of(settings, factory, db, clock, organisation_id=None, role="admin"):
    organisation_id = organisation_id or await factory.organisation()
    account_id = await factory.account(organisation_id, role=role)
    token = await login_session(db, clock, account_id, organisation_id)
    async with running_app(settings, clock) as (app, client):
        yield AdminBrowser(client, token), organisation_id, account_id


async def count(db, table) -> int:
    return len(await db.fetch(table.select(table.id)))


async def test_the_table_needs_an_admin_session(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        anonymous = await client.get("/nutzerverwaltung/?q=a", headers={"accept": "text/html"})
        assert anonymous.status_code == 401 and "<h1>Bitte melden Sie sich an</h1>" in anonymous.text
        # The login form is on the page and leads back here (issue 11, defect 3).
        assert 'action="/anmelden?weiter=/nutzerverwaltung%3Fq%3Da"' in anonymous.text
        assert "Es ist ein Fehler aufgetreten" not in anonymous.text
    async with admin_of(settings, factory, db, clock, role="staff") as (staff, _, _):
        forbidden = await staff.get("/nutzerverwaltung/", headers={"accept": "text/html"})
        assert forbidden.status_code == 403 and "<h1>Kein Zugriff</h1>" in forbidden.text


async def test_ended_or_idle_sessions_do_not_open_the_table(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, _, _):
        assert (await admin.get("/nutzerverwaltung/")).status_code == 200
        clock.advance(minutes=31)
        assert (await admin.get("/nutzerverwaltung/")).status_code == 401


async def test_invite_writes_everything_and_shows_eingeladen(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, org, account_id):
        response = await admin.invite(email="b.tester@abc.de", first_name="Bernhard", last_name="Tester", salutation="Herr")
        assert response.status_code == 303
        table = await admin.get("/nutzerverwaltung/")
        assert "Bernhard Tester" in table.text and "b.tester@abc.de" in table.text
        assert re.search(r'data-state="invited">\s*Eingeladen<', table.text)
    instance = await db.fetch_one(FlowInstance.select().where(FlowInstance.organisation == org))
    assert instance["state"] == "invited"
    history = await db.fetch(TransitionHistory.select().where(TransitionHistory.instance == instance["id"]))
    assert [(h["event"], h["actor"], h["client_ip"]) for h in history] == [("invite", f"account:{account_id}", "192.0.2.10")]
    outbox = await db.fetch(Outbox.select(Outbox.kind, Outbox.recipient).where(Outbox.instance == instance["id"]))
    assert outbox == [{"kind": "invitation", "recipient": "b.tester@abc.de"}]


async def test_htmx_invite_returns_the_new_row_and_closes_the_dialog(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, _, _):
        dialog = await admin.get("/nutzerverwaltung/neu", headers={"HX-Request": "true"})
        assert dialog.text.lstrip().startswith("<dialog") and "<html" not in dialog.text
        response = await admin.invite(htmx=True)
        assert response.status_code == 200
        assert json.loads(response.headers["HX-Trigger"]) == {"person-invited": {}}
        assert 'hx-swap-oob="afterbegin:#people-rows"' in response.text
        assert "Eingeladen" in response.text and "Anna Müller wurde eingeladen." in response.text
        assert response.headers["vary"] == "HX-Request"


@pytest.mark.parametrize(
    ("first_name", "last_name", "email"),
    [
        ("Anna", "Müller", "a@example.org"),
        ("Siobhán", "O'Brien", "s.obrien@example.ie"),
        ("Łukasz", "Kowalski", "l@przykład.pl"),
        ("Jean-Luc", "Picard", "jl@example.fr"),
        ("Zoë", "d’Arc", "z@bücher.de"),
    ],
)
async def test_real_names_and_international_domains_are_accepted(settings, factory, db, clock, first_name, last_name, email):
    async with admin_of(settings, factory, db, clock) as (admin, _, _):
        response = await admin.invite(first_name=first_name, last_name=last_name, email=email)
        assert response.status_code == 303, response.text
    stored = await db.fetch_one(Account.select(Account.first_name, Account.last_name, Account.email).where(Account.last_name == last_name))
    assert stored["first_name"] == first_name
    assert stored["email"] == email.split("@")[0] + "@" + email.split("@")[1].encode("idna").decode()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("salutation", "", "Bitte wählen Sie eine Anrede aus."),
        ("salutation", "Majestät", "Bitte wählen Sie eine Anrede aus."),
        ("first_name", "", "Bitte geben Sie den Vornamen ein."),
        ("last_name", "   ", "Bitte geben Sie den Nachnamen ein."),
        ("first_name", "A" * 101, "höchstens 100 Zeichen"),
        ("last_name", "R2-D2", "nur Buchstaben"),
        ("first_name", "Anna\r\nBcc: evil@example.org", "keine Zeilenumbrüche"),
        ("last_name", "Mül\x00ler", "keine Zeilenumbrüche"),
        ("email", "", "Bitte geben Sie die E-Mail-Adresse ein."),
        ("email", "keine-adresse", "gültige E-Mail-Adresse"),
        ("email", "a@localhost", "gültige E-Mail-Adresse"),
        ("email", "a..b@example.org", "gültige E-Mail-Adresse"),
        ("email", "x@example.org\r\nBcc: y@example.org", "keine Leer-, Steuerzeichen"),
        ("email", "a" * 250 + "@x.de", "höchstens 254 Zeichen"),
    ],
)
async def test_bad_input_gets_a_german_message_next_to_the_field_and_keeps_the_rest(
    settings, factory, db, clock, field, value, message
):
    data = {"salutation": "Frau", "first_name": "Anna", "last_name": "Müller", "email": "a.mueller@example.org"}
    data[field] = value
    async with admin_of(settings, factory, db, clock) as (admin, _, _):
        response = await admin.invite(**data)
        assert response.status_code == 422
        error = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', response.text, re.S)
        assert error and message in error.group(1)
        assert f'aria-describedby="{field}-error"' in response.text
        for other, kept in data.items():
            if other not in (field, "salutation") and kept.strip():
                assert f'value="{kept}"' in response.text.replace("&#39;", "'")
    assert await count(db, Account) == 1  # only the admin
    assert await count(db, FlowInstance) == 0 and await count(db, Outbox) == 0


async def test_a_list_where_one_value_is_expected_is_refused(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, _, _):
        data = {"salutation": "Frau", "first_name": "Anna", "last_name": "Müller",
                "email": ["a@example.org", "attacker@example.org"]}
        response = await admin.post("/nutzerverwaltung/", data=data)
        assert response.status_code == 422
        assert "nur einen Wert" in response.text
        unexpected = await admin.invite(role="admin")
        assert unexpected.status_code == 422 and "unerwartete Felder" in unexpected.text
    assert await count(db, FlowInstance) == 0


async def test_a_duplicate_address_offers_the_existing_invitation(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, _, _):
        assert (await admin.invite(email="dup@example.org")).status_code == 303
        again = await admin.invite(email="DUP@example.org", first_name="Other")
        assert again.status_code == 409
        assert "bereits eine Einladung" in again.text
        assert "Einladung erneut senden" in again.text
        assert 'value="Other"' in again.text
    assert await count(db, FlowInstance) == 1


async def test_without_csrf_token_nothing_is_written(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, _, _):
        response = await admin.client.post(
            "/nutzerverwaltung/",
            data={"salutation": "Frau", "first_name": "A", "last_name": "B", "email": "x@example.org"},
        )
        assert response.status_code == 403
    assert await count(db, FlowInstance) == 0


async def test_invites_per_admin_are_rate_limited(settings, factory, db, clock):
    limited = dataclasses.replace(settings, invites_per_admin_per_hour=2)
    async with admin_of(limited, factory, db, clock) as (admin, _, _):
        for i in range(2):
            assert (await admin.invite(email=f"p{i}@example.org")).status_code == 303
        third = await admin.invite(email="p3@example.org")
        assert third.status_code == 429 and "in der letzten Stunde bereits 2 Einladungen oder Registrierungslinks" in third.text
        for _ in range(3):  # an hour later, the session kept alive in between
            clock.advance(minutes=21)
            assert (await admin.get("/nutzerverwaltung/")).status_code == 200
        assert (await admin.invite(email="p3@example.org")).status_code == 303


async def test_another_organisations_people_are_invisible(settings, factory, db, clock):
    foreign = await factory.invite(email="foreign@example.org")
    async with admin_of(settings, factory, db, clock) as (admin, _, _):
        table = await admin.get("/nutzerverwaltung/")
        assert "foreign@example.org" not in table.text
        assert (await admin.get(f"/nutzerverwaltung/{foreign.id}", headers={"accept": "text/html"})).status_code == 404
        assert (await admin.event(foreign.id, "revoke")).status_code == 404
    assert (await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == foreign.id)))["state"] == "invited"


async def test_row_actions_come_from_the_flow(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        record = await factory.invite(org)
        table = await admin.get("/nutzerverwaltung/")
        row = re.search(rf'<tr id="person-{record.id}">.*?</tr>', table.text, re.S).group(0)
        assert re.findall(r'/nutzerverwaltung/\d+/(\w+)"', row)[::2] == ["resend", "revoke", "delete"]
        assert "Einladung erneut senden" in row and "hx-confirm" in row
        not_offered = await admin.event(record.id, "unlock")
        assert not_offered.status_code == 409 and "nicht mehr möglich" in not_offered.text


async def test_resend_kills_the_old_link_and_restarts_720_hours(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        record = await factory.invite(org)
        token = links.new_token()
        await db.write([links.issue_step(record.id, token, clock.now(), await links.invitation_expiry(db, record.id, roles.expiry_events()))])
        assert await links.find_valid(db, token, clock.now(), roles.link_open()) is not None
        clock.advance(minutes=20)
        response = await admin.event(record.id, "resend", htmx=True)
        assert response.status_code == 200 and "Eingeladen" in response.text
        assert await links.find_valid(db, token, clock.now(), roles.link_open()) is None
        expiry = await links.invitation_expiry(db, record.id, roles.expiry_events())
        assert (expiry - clock.now()).total_seconds() == 720 * 3600
        kinds = [r["kind"] for r in await db.fetch(Outbox.select(Outbox.kind).where(Outbox.instance == record.id))]
        assert kinds == ["invitation", "invitation"]


async def test_revoke_asks_first_without_javascript(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        record = await factory.invite(org)
        ask = await admin.event(record.id, "revoke", confirmed=False)
        assert ask.status_code == 200 and "wirklich widerrufen" in ask.text and 'name="confirmed" value="1"' in ask.text
        assert (await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == record.id)))["state"] == "invited"
        done = await admin.event(record.id, "revoke")
        assert done.status_code == 303
        assert (await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == record.id)))["state"] == "revoked"
        table = await admin.get("/nutzerverwaltung/")
        assert "Widerrufen" in table.text


async def test_lock_ends_sessions_and_unlock_returns_to_the_device_step(settings, factory, db, clock, service):
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        record = await factory.invite(org)
        await service.send(record.id, "complete_profile", data={"first_name": "A", "last_name": "B"})
        person_session = await login_session(db, clock, record.account_id, org)
        assert (await admin.event(record.id, "lock")).status_code == 303
        ended = await db.fetch_one(WebSession.select(WebSession.ended_at).where(WebSession.account == record.account_id))
        assert ended["ended_at"] is not None and person_session
        assert (await admin.event(record.id, "unlock")).status_code == 303
        state = await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == record.id))
        assert state["state"] == "in_progress"


async def test_delete_removes_personal_data_and_keeps_a_pseudonymous_history(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, org, admin_id):
        record = await factory.invite(org, email="weg@example.org")
        assert (await admin.event(record.id, "delete")).status_code == 303
        detail = await admin.get(f"/nutzerverwaltung/{record.id}")
        assert "weg@example.org" not in detail.text and "Gelöscht" in detail.text
    account = await db.fetch_one(Account.select().where(Account.id == record.account_id))
    assert (account["first_name"], account["last_name"]) == ("", "")
    assert "weg@example.org" not in account["email"]
    history = await db.fetch(TransitionHistory.select().where(TransitionHistory.instance == record.id))
    assert [h["event"] for h in history] == ["invite", "delete"]
    assert "weg@example.org" not in str(history)
    outbox = await db.fetch(Outbox.select(Outbox.recipient, Outbox.status).where(Outbox.instance == record.id))
    assert outbox == [{"recipient": "", "status": "cancelled"}]


async def test_detail_shows_timeline_mails_and_step(settings, factory, db, clock, service):
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        record = await factory.invite(org)
        await service.send(record.id, "complete_profile", data={"first_name": "A", "last_name": "B"})
        detail = await admin.get(f"/nutzerverwaltung/{record.id}")
        assert detail.status_code == 200
        text = detail.text
        assert "beantragt" in text
        assert "Einladen" in text and "Persönliche Daten erfassen" in text
        assert "Einladung" in text and "wird versendet" in text
        # The flow's version is for product owners (partnerportal flows list), not the admin.
        assert "Ablauf-Version" not in text and "Version 1" not in text


async def test_the_history_says_who_acted_in_plain_words(settings, factory, db, clock, service):
    """Issue 11, defect 4: the invitee, the app, the attempt limit and an admin, each named."""
    async with admin_of(settings, factory, db, clock) as (admin, org, admin_id):
        assert (await admin.invite(email="b.tester@abc.de")).status_code == 303
        instance = await db.fetch_one(FlowInstance.select(FlowInstance.id, FlowInstance.account))
        person = f"account:{instance['account']}"
        await service.send(instance["id"], "complete_profile", actor=person, data={"first_name": "A", "last_name": "B"})
        await service.send(instance["id"], "activate_device", actor="app")
        await service.send(instance["id"], "lock", actor="system:attempt-limit")
        assert (await admin.event(instance["id"], "unlock")).status_code in (200, 303)
        detail = (await admin.get(f"/nutzerverwaltung/{instance['id']}")).text
        entries = [re.sub(r"\s+", " ", e) for e in re.findall(r"<li><time[^>]*>.*?</li>", detail, re.S)]
        whos = [e.rsplit(", ", 1)[1].removesuffix("</li>").strip() for e in entries]
        assert whos == [
            "durch eine Administratorin / einen Administrator",
            "durch die eingeladene Person",
            "in der Zwei-Faktor-App",
            "automatisch (zu viele Fehlversuche)",
            "durch eine Administratorin / einen Administrator",
        ], entries
        assert "durch eine Person der Organisation" not in detail and ", app" not in detail


async def test_table_filters_searches_and_pages(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        for i in range(55):
            await factory.invite(org, email=f"person{i:02d}@example.org")
        first = await admin.get("/nutzerverwaltung/")
        assert first.text.count('<tr id="person-') == 50
        more = re.search(r'href="(/nutzerverwaltung/?\?[^"]*cursor=\d+)"', first.text).group(1).replace("&amp;", "&")
        second = await admin.get(more)
        assert second.text.count('<tr id="person-') == 5
        found = await admin.get("/nutzerverwaltung/?q=person07")
        assert found.text.count('<tr id="person-') == 1
        fragment = await admin.get("/nutzerverwaltung/?status=expired", headers={"HX-Request": "true"})
        assert fragment.text.lstrip().startswith('<div id="people-table"') and "Keine Einträge" in fragment.text


async def test_flow_view_shows_the_definition_and_its_diagram(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, _, _):
        view = await admin.get("/nutzerverwaltung/ablauf")
        version = FlowRegistry.from_directory().onboarding().version
        assert view.status_code == 200 and f"Version {version}" in view.text and "720 Stunden" in view.text
        assert "sofort nach Erreichen von „Einwilligung erteilt“" in view.text  # the automatic step
        require_graphviz()
        svg = await admin.get("/nutzerverwaltung/ablauf.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml") and "Eingeladen" in svg.text
        assert "Abschließen (automatisch)" in svg.text


async def test_a_failed_mail_can_be_sent_again_from_the_detail_view(settings, factory, db, clock):
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        record = await factory.invite(org)
        await db.write([Outbox.update({Outbox.status: "failed", Outbox.last_error: "550 mailbox unavailable"})
                        .where(Outbox.instance == record.id)])
        table = await admin.get("/nutzerverwaltung/")
        assert "Versand fehlgeschlagen" in re.search(rf'<tr id="person-{record.id}">.*?</tr>', table.text, re.S).group(0)
        detail = await admin.get(f"/nutzerverwaltung/{record.id}")
        outbox_id = (await db.fetch_one(Outbox.select(Outbox.id).where(Outbox.instance == record.id)))["id"]
        assert f"/mail/{outbox_id}/erneut-senden" in detail.text
        assert (await admin.post(f"/nutzerverwaltung/{record.id}/mail/{outbox_id}/erneut-senden")).status_code == 303
        row = await db.fetch_one(Outbox.select(Outbox.status).where(Outbox.id == outbox_id))
        assert row["status"] == "pending"
        foreign = await factory.invite()
        foreign_mail = (await db.fetch_one(Outbox.select(Outbox.id).where(Outbox.instance == foreign.id)))["id"]
        await db.write([Outbox.update({Outbox.status: "failed"}).where(Outbox.id == foreign_mail)])
        assert (await admin.post(f"/nutzerverwaltung/{record.id}/mail/{foreign_mail}/erneut-senden", headers={"accept": "text/html"})).status_code == 404
        assert (await db.fetch_one(Outbox.select(Outbox.status).where(Outbox.id == foreign_mail)))["status"] == "failed"
