"""The flow studio over HTTP: a product owner writes a draft, sees its problems with line
and key, previews the German diff and publishes; admins get 403 everywhere in it, and
no page of it names an organisation's people."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from db.tables import AuditEvent, FlowDraft, FlowMigration, FlowSimulation, Timer
from tests.support.admin import AdminBrowser, login_session
from tests.support.app import running_app
from tests.support.factories import Factory
from tests.support.flow_copies import shipped_text
from tests.support.product_owner import product_owner

EXPIRY = "    purpose: expiry\n    after: 720h\n"


async def _new_draft(owner) -> str:
    created = await owner.post("/ablaeufe/onboarding/entwurf")
    assert created.status_code == 303, created.text
    return created.headers["location"]


async def test_a_product_owner_changes_the_expiry_and_publishes_it(settings, db, clock, factory):
    running = await factory.invite()
    async with running_app(settings, clock) as (app, client):
        owner = await product_owner(client, db, clock)
        overview = await owner.get("/ablaeufe/")
        assert overview.status_code == 200 and "Version 2" in overview.text
        draft = await _new_draft(owner)
        page = await owner.get(draft)
        text = re.search(r'<textarea[^>]*>(.*?)</textarea>', page.text, re.S).group(1)
        text = text.replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
        assert "\nversion: 3\n" in text and EXPIRY in text

        wrong = await owner.post(f"{draft}/pruefen", {"text": text.replace(EXPIRY, EXPIRY.replace("720h", "336 Stunden"))}, htmx=True)
        assert wrong.status_code == 200 and wrong.text.lstrip().startswith('<div id="draft-problems"')
        line = text.split("\n").index("    after: 720h") + 1
        assert f"Zeile {line}, Schlüssel <code>timers[0].after</code>" in wrong.text

        saved = await owner.post(draft, {"text": text.replace(EXPIRY, EXPIRY.replace("720h", "336h"))})
        assert saved.status_code == 200 and "Geprüft: keine Fehler." in saved.text
        preview = await owner.get(f"{draft}/vorschau")
        assert "Frist der Einladung: 720 h → 336 h" in preview.text
        published = await owner.post(f"{draft}/veroeffentlichen")
        assert published.status_code == 303 and published.headers["location"] == "/ablaeufe?veroeffentlicht=onboarding-3"
        assert "Version 3 von „Einladung und Registrierung“ ist veröffentlicht." in (await owner.get(published.headers["location"])).text

        assert app.state.registry.onboarding().version == 3
        fresh = await Factory(db, app.state.service).invite()  # an invitation of the app that published
        due = {r["instance"]: r["due_at"] for r in await db.fetch(Timer.select(Timer.instance, Timer.due_at).where(Timer.event == "expire"))}
        assert due[running.id] == clock.now() + timedelta(hours=720)
        assert due[fresh.id] == clock.now() + timedelta(hours=336)
        again = await owner.post(f"{draft}/veroeffentlichen")
        assert again.status_code == 409


async def test_without_javascript_the_save_button_shows_every_problem_and_keeps_the_text(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        owner = await product_owner(client, db, clock)
        draft = await _new_draft(owner)
        text = shipped_text(version=3).replace("    label:\n      de: Neu\n      en: New\n", "").replace("to: expired\n", "to: expird\n")

        saved = await owner.post(draft, {"text": text})

        assert saved.status_code == 422
        assert "Schlüssel <code>states.new.label</code>: fehlt: Jeder Status braucht die Bezeichnung" in saved.text
        assert "Schlüssel <code>transitions[6].to</code>: Unbekannter Status &#39;expird&#39;." in saved.text
        assert "to: expird" in saved.text  # the text is kept, and saved as a draft
        row = await db.fetch_one(FlowDraft.select(FlowDraft.text))
        assert row["text"] == text


async def test_a_draft_lacking_a_role_is_refused_with_the_role_named(settings, db, clock):
    async with running_app(settings, clock) as (app, client):
        owner = await product_owner(client, db, clock)
        draft = await _new_draft(owner)
        checked = await owner.post(f"{draft}/pruefen", {"text": shipped_text(version=3, drop="    role: activated")}, htmx=True)
        assert ("Schlüssel <code>transitions</code>: Kein Übergang hat die Rolle &#39;activated&#39;. "
                "Ergänzen Sie role: activated bei einem Übergang.") in checked.text
        await owner.post(draft, {"text": shipped_text(version=3, drop="    role: activated")})
        refused = await owner.post(f"{draft}/veroeffentlichen")
        assert refused.status_code == 422
        assert app.state.registry.onboarding().version == 2


async def test_a_file_can_be_uploaded_into_a_draft(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        owner = await product_owner(client, db, clock)
        draft = await _new_draft(owner)
        uploaded = await owner.post(
            f"{draft}/datei", files={"file": ("onboarding.yaml", shipped_text(version=3, expiry="500h").encode(), "text/yaml")}
        )
        assert uploaded.status_code == 200 and "Geprüft: keine Fehler." in uploaded.text
        assert "after: 500h" in (await db.fetch_one(FlowDraft.select(FlowDraft.text)))["text"]
        broken = await owner.post(f"{draft}/datei", files={"file": ("x.yaml", b"\xff\xfe", "text/yaml")})
        assert broken.status_code == 422 and "keine UTF-8-Textdatei" in broken.text


async def test_every_change_of_a_product_owner_is_audited_with_who_when_and_the_diff(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        owner = await product_owner(client, db, clock)
        draft = await _new_draft(owner)
        await owner.post(draft, {"text": shipped_text(version=3, expiry="336h")})
        await owner.post(f"{draft}/veroeffentlichen")
    rows = await db.fetch(AuditEvent.select(AuditEvent.event, AuditEvent.actor, AuditEvent.created_at, AuditEvent.details).order_by(AuditEvent.id))
    assert [r["event"] for r in rows] == ["flow_draft_created", "flow_draft_saved", "flow_published"]
    assert {r["actor"] for r in rows} == {rows[0]["actor"]} and rows[0]["actor"].startswith("account:")
    assert all(r["created_at"] == clock.now() for r in rows)
    for row in rows[1:]:
        assert "+    after: 336h" in json.loads(row["details"])["diff"]


# Every handler of these modules is a product-owner page or action; the tests below take
# their routes from the app itself, so a page added later is covered without a list here.
STUDIO_MODULES = {"web.controllers.flow_studio", "web.controllers.flow_migrate", "web.controllers.flow_simulation",
                  "web.controllers.funnel"}


def studio_routes(app) -> list[tuple[str, str]]:
    """(method, path template) of every product-owner route."""
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if handler.fn.__module__ in STUDIO_MODULES:
                found.update((method, route.path) for method in handler.http_methods if method in ("GET", "POST"))
    return sorted(found)


def fill(path: str, ids: dict[str, int | str]) -> str:
    return re.sub(r"\{(\w+):\w+\}", lambda m: str(ids[m.group(1)]), path)


async def _everything_started(owner, db, clock, service) -> dict[str, int | str]:
    """A draft published as version 3 with a finished simulation, a migration from version 2
    and a second open draft: an id for every path parameter of the studio."""
    from jobs.simulations import run_simulations

    draft = (await _new_draft(owner)).rsplit("/", 1)[1]
    await owner.post(f"/ablaeufe/entwurf/{draft}", {"text": shipped_text(version=3, expiry="336h")})
    simulated = await owner.post(f"/ablaeufe/entwurf/{draft}/simulation", {"tage": "30"})
    assert await run_simulations(db, clock) == 1
    assert (await owner.post(f"/ablaeufe/entwurf/{draft}/veroeffentlichen")).status_code == 303
    states = service.registry.get("onboarding", 2).definition.states
    migration = await owner.post("/ablaeufe/onboarding/migrieren/2", {f"map_{s}": s for s in states})
    other = (await _new_draft(owner)).rsplit("/", 1)[1]
    return {"flow_name": "onboarding", "draft_id": other, "version": 2, "from_version": 2,
            "migration_id": migration.headers["location"].rsplit("/", 1)[1],
            "simulation_id": simulated.headers["location"].rsplit("/", 1)[1], "published_draft": draft}


async def test_organisation_admins_get_403_on_every_studio_page_and_action(settings, db, clock, factory, service):
    await factory.invite()  # a running invitation, so that the migration has work left
    async with running_app(settings, clock) as (app, client):
        owner = await product_owner(client, db, clock)
        ids = await _everything_started(owner, db, clock, service)
        routes = studio_routes(app)
        assert len([r for r in routes if r[0] == "GET"]) >= 10 and len([r for r in routes if r[0] == "POST"]) >= 8, routes
        before = {table.__name__: await db.fetch(table.select()) for table in (FlowDraft, FlowMigration, FlowSimulation)}
        organisation = await factory.organisation()
        admin_id = await factory.account(organisation, role="admin")
        client.cookies.clear()
        admin = AdminBrowser(client, await login_session(db, clock, admin_id, organisation))
        for method, path in routes:
            url = fill(path, ids)
            answer = await (admin.get(url) if method == "GET" else admin.post(url, {"text": "x", "tage": "3"}))
            assert answer.status_code == 403, (method, url, answer.status_code)
        after = {table.__name__: await db.fetch(table.select()) for table in (FlowDraft, FlowMigration, FlowSimulation)}
        assert after == before  # no action of the admin changed anything


async def test_product_owners_cannot_reach_any_organisations_people(settings, db, clock, factory):
    person = await factory.invite()
    async with running_app(settings, clock) as (_, client):
        owner = await product_owner(client, db, clock)
        for path in ["/nutzerverwaltung/", f"/nutzerverwaltung/{person.id}", "/nutzerverwaltung/ablauf", "/nutzerverwaltung/csv-import/"]:
            assert (await owner.get(path)).status_code == 403, path
        assert (await owner.post(f"/nutzerverwaltung/{person.id}/revoke", {"confirmed": "1"})).status_code == 403
        assert (await owner.invite()).status_code == 403


async def test_no_studio_page_shows_a_persons_name_or_address(settings, db, clock, factory, service):
    organisation = await factory.organisation("Pflegedienst Geheim")
    from workflows.invitations import Person, invite

    await invite(service, organisation, Person("Frau", "Zenobia", "Verborgen", "z.verborgen@geheim.example"), "account:99", "", None)
    async with running_app(settings, clock) as (app, client):
        owner = await product_owner(client, db, clock)
        ids = await _everything_started(owner, db, clock, service)
        pages = [fill(path, ids) for method, path in studio_routes(app) if method == "GET"]
        pages += [f"/ablaeufe/entwurf/{ids['published_draft']}/vorschau", "/trichter?organisation=" + str(organisation)]
        # The migration's and a running simulation's progress pages, before they finish.
        running = await owner.post(f"/ablaeufe/entwurf/{ids['draft_id']}/simulation", {"tage": "30"})
        pages.append(running.headers["location"])
        assert "Aktualisieren" in (await owner.get(running.headers["location"])).text
        assert "von 1 Einladungen migriert" in (await owner.get(f"/ablaeufe/migration/{ids['migration_id']}")).text
        for path in pages:
            answer = await owner.get(path, follow_redirects=True)  # the form leads to the running migration
            assert answer.status_code == 200, (path, answer.status_code)
            for secret in ("Zenobia", "Verborgen", "z.verborgen", "geheim.example"):
                assert secret not in answer.text, (path, secret)


async def test_a_product_owner_registers_and_logs_in_like_everyone_else(settings, db, clock, service):
    from partnerportal.setup import OPERATOR, ensure_organisation
    from tests.integration.test_twofactor import PIN, login_request
    from tests.support.device import Device as App
    from tests.support.invitee import Invitee
    from workflows.invitations import Person, invite

    organisation = await ensure_organisation(db, settings.operator_organisation, OPERATOR)
    person = Person("keine Angabe", "Paula", "Produkt", "p.produkt@betreiber.example")
    record = await invite(service, organisation, person, "cli:operator-create", "", None, role="product_owner")
    async with running_app(settings, clock) as (_, client):
        browser = Invitee(client, db, clock, settings.secret_key)
        code = await browser.register(record.id)
        app = App(client, clock)
        assert (await app.activate(person.email, code.replace(" ", ""), pin=PIN)).status_code == 201
        client.cookies.clear()
        public_id, number = await login_request(browser, person.email)
        listed = (await app.requests()).json()["requests"]
        assert (await app.answer(listed[0], pin=PIN, number=number)).json() == {"status": "approved"}
        assert (await browser.post(f"/anmelden/weiter/{public_id}")).status_code == 303
        assert (await browser.accept_consent()).status_code == 303
        home = await browser.get("/")
        assert 'href="/ablaeufe"' in home.text and "Nutzerverwaltung" not in home.text
        assert (await browser.get("/ablaeufe/")).status_code == 200
        assert (await browser.get("/nutzerverwaltung/")).status_code == 403
