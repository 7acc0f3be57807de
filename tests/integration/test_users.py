"""Nutzerverwaltung over HTTP: access, "Nutzer anlegen" with every validation rule,
row actions from the flow, detail view, cross-organisation isolation."""

from __future__ import annotations

import dataclasses
import json
import re
from contextlib import asynccontextmanager

import pytest

from db import links, people as people_queries
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
        assert re.search(r'class="badge badge-info">Eingeladen<', table.text)
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


async def test_a_row_of_the_table_is_the_row_answered_alone(settings, factory, db, clock):
    """The table builds its 50 rows' cells directly (RowViews.cells), a single row goes
    through RowView (cells_of): both give the same markup."""
    async with admin_of(settings, factory, db, clock) as (admin, _, _):
        created = await admin.invite(htmx=True, salutation="Herr", first_name="Siobhán", last_name="O'Brien", email="s.obrien@example.ie")
        row_id = re.search(r'<tr id="(person-\d+)"', created.text).group(1)
        table = await admin.get("/nutzerverwaltung/")

        def row(html: str) -> str:
            return html.split(f'<tr id="{row_id}"')[1].split("</tr>")[0]

        assert row(table.text) == row(created.text)
        assert "Herr Siobhán O&#39;Brien" in row(table.text) and "gültig bis" in row(table.text)


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
        # The row itself holds no action, only the control that loads them.
        assert "<form" not in row and f'hx-get="/nutzerverwaltung/{record.id}/aktionen"' in row
        assert f'href="/nutzerverwaltung/{record.id}#aktionen"' in row
        actions = await admin.get(f"/nutzerverwaltung/{record.id}/aktionen", headers={"HX-Request": "true"})
        assert actions.status_code == 200
        assert re.findall(r'hx-post="/nutzerverwaltung/\d+/(\w+)"', actions.text) == ["resend", "revoke", "delete"]
        assert "Einladung erneut senden" in actions.text and "hx-confirm" in actions.text
        # The detail page (the way without JavaScript) offers the same actions.
        detail = await admin.get(f"/nutzerverwaltung/{record.id}")
        assert re.findall(r'action="/nutzerverwaltung/\d+/(\w+)"', detail.text) == ["resend", "revoke", "delete"]
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


async def test_ses7_actions_fragment_without_htmx_leads_to_the_detail_page_and_only_for_the_organisation(settings, factory, db, clock):
    """SES-7: another organisation's row has no actions to load; a plain GET (no htmx) is
    sent to the detail page, where the actions are forms that work without JavaScript."""
    foreign = await factory.invite(email="fremd@example.org")
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        record = await factory.invite(org)
        plain = await admin.get(f"/nutzerverwaltung/{record.id}/aktionen")
        assert plain.status_code == 303 and plain.headers["location"] == f"/nutzerverwaltung/{record.id}#aktionen"
        for headers in ({}, {"HX-Request": "true"}):
            other = await admin.get(f"/nutzerverwaltung/{foreign.id}/aktionen", headers={"accept": "text/html", **headers})
            assert other.status_code == 404 and "fremd@example.org" not in other.text


async def test_actions_fragment_carries_no_csrf_field_and_its_posts_work_with_the_header(settings, factory, db, clock):
    """SES-4: the fragment's forms are sent by htmx, which adds the page's token as a header."""
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        record = await factory.invite(org)
        actions = await admin.get(f"/nutzerverwaltung/{record.id}/aktionen", headers={"HX-Request": "true"})
        assert "_csrf_token" not in actions.text
        without = await admin.client.post(f"/nutzerverwaltung/{record.id}/revoke", data={"confirmed": "1"},
                                          headers={"HX-Request": "true"})
        assert without.status_code == 403
        done = await admin.event(record.id, "revoke", htmx=True)
        assert done.status_code == 200 and f'id="person-{record.id}"' in done.text and "Widerrufen" in done.text
    state = await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == record.id))
    assert state["state"] == "revoked"


async def test_a_page_of_50_rows_is_at_most_30_kb_with_one_csrf_token_for_htmx(settings, factory, db, clock):
    """A size assertion, not a timed one: 50 rows with long names, failed mails and actions."""
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        for i in range(51):
            await factory.invite(org, f"maximiliane.schulze-wittgenstein{100_000 - i}@pflegedienst-beispiel.de")
        # Longer than most (the benchmark's people average 14 characters of name, 30 of address).
        await db.write([Account.update({Account.salutation: "Frau", Account.first_name: "Maximiliane",
                                        Account.last_name: "Schulze-Wittgenstein"}).where(Account.organisation == org)])
        await db.write([Outbox.update({Outbox.status: "failed"}).where(Outbox.id.is_in(
            Outbox.select(Outbox.id).where(Outbox.organisation == org).order_by(Outbox.id, ascending=False).limit(5)))])
        table = await admin.get("/nutzerverwaltung/")
        assert table.status_code == 200 and table.text.count('<tr id="person-') == 50
        assert table.text.count("Versand fehlgeschlagen") == 5
        assert len(table.content) <= 30 * 1024, len(table.content)
        assert "<form" not in table.text.split('<tbody id="people-rows"')[1]
        token = await admin.csrf()
        # once for htmx (hx-headers on <body>), once in the logout form, which works without JavaScript
        assert table.text.count(token) == 2 and table.text.count('name="_csrf_token"') == 1


async def test_names_and_addresses_in_the_rows_are_html_escaped(settings, factory, db, clock):
    """The rows block places values escaped in Python with Jinja's escaping off: markup in a
    name or address shows as text, in the page, the single-row answer and the live row."""
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        record = await factory.invite(org, "x@example.org")
        await db.write([Account.update({Account.first_name: '<script>alert("1")</script>', Account.last_name: "A&B"})
                        .where(Account.id == record.account_id)])
        table = await admin.get("/nutzerverwaltung/")
        assert table.status_code == 200
        row = table.text.split(f'<tr id="person-{record.id}"')[1].split("</tr>")[0]
        assert "<script>" not in row
        assert "&lt;script&gt;alert(&#34;1&#34;)&lt;/script&gt; A&amp;B" in row


# SQLite reads a term many people match in page order, checking an ASCII term with its own
# LIKE (db/people.py, COMMON): with COMMON at 0 every term found takes that way.
@pytest.mark.parametrize("common", ["few matches", "many matches"])
async def test_search_finds_any_part_of_name_or_address_ignoring_case_of_every_letter(
    settings, factory, db, clock, monkeypatch, common,
):
    if common == "many matches":
        monkeypatch.setattr(people_queries, "COMMON", 0)
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        people = {
            "übel": ("Ödön", "ÜBEL", "oe.uebel@example.org"),
            "strauß": ("Ärmin", "Strauß", "a.strauss@beispiel.de"),
            "müller": ("Anna", "Müller-Lüdenscheidt", "anna.ml@example.org"),
            "other": ("Bernd", "Brot", "bernd@brot.example"),
        }
        ids = {}
        for key, (first, last, email) in people.items():
            record = await factory.invite(org, email)
            await db.write([Account.update({Account.first_name: first, Account.last_name: last}).where(Account.id == record.account_id)])
            ids[key] = record.id

        async def found(term: str) -> set[str]:
            response = await admin.get("/nutzerverwaltung/", params={"q": term})
            assert response.status_code == 200
            shown = {int(i) for i in re.findall(r'<tr id="person-(\d+)"', response.text)}
            return {key for key, instance_id in ids.items() if instance_id in shown}

        assert await found("üb") == {"übel"}  # two letters: below the trigram index, still every letter folded
        assert await found("ÜBE") == {"übel"}
        assert await found("bel") == {"übel"}  # inside the name, not only its start
        assert await found("ödö") == {"übel"}
        assert await found("ÄRM") == {"strauß"}
        assert await found("auß") == {"strauß"}
        assert await found("lüdensch") == {"müller"}
        assert await found("-LÜD") == {"müller"}
        assert await found("beispiel.de") == {"strauß"}
        assert await found("l@ex") == {"übel", "müller"}  # a part of two addresses
        assert await found("%") == set() and await found("_") == set()  # LIKE's wildcards are plain characters
        assert await found('"') == set() and await found('b"r') == set()  # FTS5 syntax is plain text too
        assert await found("nd br") == {"other"}  # first and last name together

        # The index follows changes of a name (SQLite: triggers; PostgreSQL: the expression index).
        await db.write([Account.update({Account.last_name: "Übermut"}).where(Account.email == "bernd@brot.example")])
        assert await found("ÜBERM") == {"other"}
        assert await found("brot") == {"other"}  # still in the address
        assert await found("nd br") == set()


async def test_the_search_uses_an_index_on_both_engines(db):
    """SQLite: the plan reads the FTS5 trigram table. PostgreSQL: the pg_trgm index exists on
    exactly the expression the search compares (with 0 rows its plan would not show it)."""
    from db import people
    from db.engine import Sql

    condition, value = people._search_condition(db, "schulz")
    if db.is_sqlite:
        sql = f"SELECT fi.id FROM flow_instance fi JOIN account a ON a.id = fi.account WHERE {condition}"
        plan = await db.explain(Sql(Account, sql, value))
        assert "SCAN account_search VIRTUAL TABLE INDEX" in plan, plan
    else:
        row = await db.fetch_one(Sql(Account, "SELECT indexdef FROM pg_indexes WHERE indexname = 'account_search_trgm'"))
        assert "gin" in row["indexdef"] and "gin_trgm_ops" in row["indexdef"], row
        assert f"lower({people.SEARCH_TEXT.replace('a.', '')})" in condition.replace("a.", ""), condition
