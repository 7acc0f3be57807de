"""axe-core (WCAG 2.0/2.1 A and AA plus best practices) on every page of the product, in
real Chromium, at the width the page is used at and at 320 px; at 320 px no page may
scroll sideways (WCAG 1.4.10 Reflow), and no heading or badge may break a word without a
hyphen (measured on the rendered text lines, issue 11). The pages are reached the way people reach them
(links, buttons, forms), in the states people see them in (empty and filled, with
form errors, with a dialog open).

Each test collects every finding before it fails, so one run names all of them: the
rule id, its impact and the target of each node, per page and width."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from playwright.async_api import expect

from db import postfach, sessions
from db.tables import DevMail
from jobs.outbox import dispatch_due_mail
from partnerportal.demo import DEMO_MESSAGES
from core.signing import Signer
from tests.support.admin import login_session
from tests.support.browser import (
    admin_context, axe_violations, describe_violations, horizontal_overflow, words_broken_without_hyphen,
)
from tests.support.environment import chromium_path, require

NARROW = {"width": 320, "height": 640}
PHONE = {"width": 390, "height": 844}
PHONE_OPTIONS = {"viewport": PHONE, "is_mobile": True, "has_touch": True, "timezone_id": "Europe/Berlin"}
WAIT = 10_000  # ms: the portal polls every 2 s, the app every 2.5 s
EMAIL = "b.tester@abc.de"
PIN = "472913"
CSV = "Anrede;Vorname;Nachname;E-Mail\nFrau;Anna;Müller;a.mueller@beispiel.de\nHerr;Jörg;Schmidt;keine-adresse\n"


@pytest.fixture(autouse=True)
def needs_chromium():
    require(chromium_path() is not None, "Chromium")


@dataclass
class Audit:
    """Runs the checks on a page as it is now and keeps what was found."""

    findings: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    async def check(self, page, where: str, wcag_only: bool = False) -> None:
        """wcag_only: a mail's HTML is no page of the portal; axe's best practices for pages
        (one main landmark, a level-one heading, everything in landmarks) do not apply."""
        width = page.viewport_size["width"]
        violations = await self._axe(page, wcag_only)
        if violations:
            self.findings.append(describe_violations(violations, f"{where} ({page.url}) at {width} px"))
        await page.set_viewport_size(NARROW)
        try:
            violations = await self._axe(page, wcag_only)
            if violations:
                self.findings.append(describe_violations(violations, f"{where} ({page.url}) at 320 px"))
            overflow = await horizontal_overflow(page)
            if overflow is not None:
                self.findings.append(f"{where} ({page.url}) scrolls sideways at 320 px: {overflow}")
            if not wcag_only:
                for broken in await words_broken_without_hyphen(page):
                    self.findings.append(f"{where} ({page.url}) at 320 px: {broken}")
        finally:
            await page.set_viewport_size({"width": width, "height": page.viewport_size["height"]})
        self.checked.append(where)

    @staticmethod
    async def _axe(page, wcag_only: bool) -> list[dict]:
        violations = await axe_violations(page)
        if wcag_only:
            violations = [v for v in violations if any(tag.startswith("wcag") for tag in v["tags"])]
        return violations

    async def visit(self, page, path: str, where: str, status: int = 200, wcag_only: bool = False) -> None:
        response = await page.goto(path)
        assert response is not None and response.status == status, (
            f"{where}: GET {path} answered {response.status if response else None}, expected {status}")
        await self.check(page, where, wcag_only)

    def assert_clean(self) -> None:
        assert not self.findings, (
            f"{len(self.findings)} finding(s) on {len(self.checked)} page states:\n\n" + "\n\n".join(self.findings))


def heading(page, name: str):
    return page.get_by_role("heading", name=name, exact=True)


# -- pages for everyone -------------------------------------------------------------------


async def test_public_pages(portal, db, clock, settings, registry):
    audit = Audit()
    # A mail for the development mailbox (no SMTP configured: the dispatcher keeps it there).
    await portal.factory.invite(email=EMAIL)
    assert (await dispatch_due_mail(db, settings, clock, registry, Signer(settings.secret_key))).sent == 1
    mail_id = (await db.fetch_one(DevMail.select(DevMail.id)))["id"]

    context = await portal.anonymous()
    page = await context.new_page()
    await audit.visit(page, "/", "the start page (anonymous)")
    await page.get_by_role("link", name="Anmelden").click()
    await expect(heading(page, "Anmelden")).to_be_visible()
    await audit.check(page, "the login page")
    await page.get_by_role("button", name="Weiter").click()
    await expect(page.locator("#username-error")).to_be_visible()
    await audit.check(page, "the login page with an error")
    await page.get_by_label("Benutzername oder E-Mail-Adresse").fill("niemand@example.org")
    await page.get_by_role("button", name="Weiter").click()
    await expect(page.locator("#login-number")).to_have_text(re.compile(r"^\s*\d{3} \d{3}\s*$"))
    await audit.check(page, "the login waiting page")
    await audit.visit(page, "/anmelden/beendet/denied", "the login ended page", status=409)
    await audit.visit(page, "/einladung/kein-gueltiger-link", "the neutral invalid-link page", status=404)
    await audit.visit(page, "/gibt-es-nicht", "the error page (404)", status=404)
    for document in ("datenschutz", "nutzungsbedingungen"):
        await audit.visit(page, f"/dokumente/{document}", f"the document {document}")

    # The information pages, reached through the footer every page has.
    for name in ("Barrierefreiheit", "Hilfe", "Download Zwei-Faktor-Authentifizierung", "Kontakt"):
        await page.goto("/")
        await page.get_by_role("contentinfo").get_by_role("link", name=name, exact=True).click()
        await page.wait_for_load_state()
        await audit.check(page, f"the page {name!r}")
    await page.goto("/hilfe")
    await page.get_by_role("contentinfo").get_by_role("link", name="Barriere melden").click()
    await expect(heading(page, "Barriere melden")).to_be_visible()
    await audit.check(page, "the page 'Barriere melden'")
    await page.get_by_label("Seite, auf der die Barriere auftritt (optional)").fill("https://anderswo.example/")
    await page.get_by_role("button", name="Meldung senden").click()
    await expect(page.locator("#description-error")).to_be_visible()
    await audit.check(page, "the page 'Barriere melden' with errors")
    await page.get_by_label("Seite, auf der die Barriere auftritt (optional)").fill("/hilfe")
    await page.get_by_label("Beschreibung der Barriere").fill("Die Tabelle ist mit dem Screenreader schwer zu lesen.")
    await page.get_by_role("button", name="Meldung senden").click()
    await page.wait_for_url(re.compile(r"/barriere-melden/danke$"))
    await audit.check(page, "the thank-you page of 'Barriere melden'")

    # The development mailbox: list, one mail, its HTML part.
    await page.goto("/")
    await page.get_by_role("contentinfo").get_by_role("link", name="Entwicklungs-Postfach").click()
    await page.wait_for_load_state()
    await audit.check(page, "the development mailbox")
    await audit.visit(page, f"/dev/postfach/{mail_id}", "a mail in the development mailbox")
    await audit.visit(page, f"/dev/postfach/{mail_id}/html", "the HTML part of a mail in the development mailbox",
                      wcag_only=True)
    audit.assert_clean()


# -- the admin's pages ------------------------------------------------------------------


async def test_admin_pages(portal, db, clock, service):
    audit = Audit()
    admin = await portal.admin()
    org = admin.organisation_id
    invited = await portal.factory.invite(org, "eingeladen@example.org")
    for email, events in [
        ("beantragt@example.org", ["complete_profile"]),
        ("abgeschlossen@example.org", ["complete_profile", "activate_device"]),
        ("gesperrt@example.org", ["complete_profile", "lock"]),
        ("abgelaufen@example.org", ["expire"]),
        ("widerrufen@example.org", ["revoke"]),
    ]:
        record = await portal.factory.invite(org, email)
        for event in events:
            data = {"first_name": "Wera", "last_name": "Weiter"} if event == "complete_profile" else None
            await service.send(record.id, event, actor="admin@test", data=data)

    page = await admin.page("/")
    await audit.check(page, "the start page (admin)")
    await page.locator("main").get_by_role("link", name="Nutzerverwaltung").click()
    await expect(page.locator("#people-rows tr")).to_have_count(6)
    await audit.check(page, "the Nutzerverwaltung table")
    await page.get_by_role("link", name="Nutzer anlegen").click()
    dialog = page.get_by_role("dialog", name="Nutzer einladen")
    await expect(dialog).to_be_visible()
    await audit.check(page, "the dialog 'Nutzer einladen'")
    await dialog.get_by_role("button", name="Einladen").click()
    await expect(dialog.locator("#first_name-error")).to_be_visible()
    await audit.check(page, "the dialog 'Nutzer einladen' with errors")
    await page.keyboard.press("Escape")
    await expect(page.locator("dialog")).to_have_count(0)

    await page.get_by_role("link", name="Ablauf der Registrierung").click()
    await expect(heading(page, "Ablauf der Registrierung")).to_be_visible()
    await audit.check(page, "the flow view")
    await audit.visit(page, "/nutzerverwaltung/neu", "the invite page (without JavaScript's dialog)")
    await audit.visit(page, f"/nutzerverwaltung/{invited.id}", "the detail page of an invited person")
    await audit.visit(page, f"/nutzerverwaltung/{invited.id}/auskunft", "the data subject access page (Auskunft)")

    # CSV-Import: upload page, preview, result.
    await page.goto("/nutzerverwaltung/")
    await page.get_by_role("link", name="CSV-Import").click()
    await expect(page.get_by_label("CSV-Datei")).to_be_visible()
    await audit.check(page, "the CSV import page")
    await page.get_by_label("CSV-Datei").set_input_files(
        {"name": "liste.csv", "mimeType": "text/csv", "buffer": CSV.encode("utf-8")})
    await page.get_by_role("button", name="Datei prüfen").click()
    await expect(page.locator("#import-status")).to_contain_text("2 Zeilen gelesen")
    await audit.check(page, "the CSV import preview")
    await page.get_by_role("button", name="1 Person jetzt einladen").click()
    await expect(page.locator("#import-status")).to_contain_text("Import abgeschlossen", timeout=WAIT)
    await audit.check(page, "the CSV import result")

    # The confirmation page people without JavaScript get before a revocation: the form
    # sent natively, past htmx (axe-core itself needs JavaScript in the page).
    # The row's actions, loaded on demand: axe-core checks them in the table.
    await page.goto("/nutzerverwaltung/")
    await page.locator(f"#person-{invited.id}").get_by_role("link", name=re.compile("^Aktionen")).click()
    await expect(page.locator(f"#person-{invited.id}").get_by_role("button").first).to_be_focused()
    await audit.check(page, "the table with one row's actions opened")
    await page.goto(f"/nutzerverwaltung/{invited.id}")
    revoke = page.locator("form").filter(has=page.get_by_role("button", name=re.compile("Einladung widerrufen")))
    await revoke.evaluate("form => form.submit()")
    await expect(heading(page, "Einladung widerrufen")).to_be_visible()
    await audit.check(page, "the confirmation page 'Einladung widerrufen' (as without JavaScript)")
    # Meanwhile another admin revoked the invitation: confirming now is a conflict.
    await service.send(invited.id, "revoke", actor="admin@test")
    await page.get_by_role("button", name="Einladung widerrufen").click()
    await expect(heading(page, "Aktion nicht möglich")).to_be_visible()
    await audit.check(page, "the conflict page of the Nutzerverwaltung")

    # A registration that can no longer go on: a session the expiry did not end (the
    # shipped flow's expiry ends registration sessions, INV-9; a flow file may not).
    stale = await portal.factory.invite(org, "zu-spaet@example.org")
    await service.send(stale.id, "expire")
    token = await sessions.create(db, "registration", stale.account_id, org, clock.now(), timedelta(hours=1), instance_id=stale.id)
    late = await (await admin_context(portal.browser, portal.base_url, token)).new_page()
    await audit.visit(late, "/registrierung/", "the page 'Registrierung nicht möglich'", status=409)
    admin.assert_no_problems(409, 422, ignore="ablauf.svg")
    audit.assert_clean()


# -- an invited person: registration, the app, first login, Postfach ---------------------


async def test_registration_app_and_first_login(portal, db, clock, settings, registry):
    audit = Audit()
    organisation_id = await portal.factory.organisation()
    for subject, body in DEMO_MESSAGES:
        await db.write([postfach.deliver_step(organisation_id, "Krankenkasse – Bereich Finanzen", subject, body, clock.now())])
    await portal.factory.invite(organisation_id, EMAIL)
    await dispatch_due_mail(db, settings, clock, registry, Signer(settings.secret_key))
    text = (await db.fetch_one(DevMail.select(DevMail.text)))["text"]
    link = re.search(r"https?://\S+(/einladung/\S+)", text).group(1)

    context = await portal.anonymous(**PHONE_OPTIONS)
    page = await context.new_page()
    await audit.visit(page, link, "the invitation page")
    await page.get_by_role("button", name="Registrierung fortsetzen").click()
    await expect(heading(page, "Persönliche Daten")).to_be_visible()
    await audit.check(page, "registration: Persönliche Daten")
    await page.get_by_label("Vorname").fill("")
    await page.get_by_role("button", name="Speichern und weiter").click()
    await expect(page.locator("#first_name-error")).to_be_visible()
    await audit.check(page, "registration: Persönliche Daten with errors")
    second_tab = await context.new_page()  # the same step, left open in another tab
    await second_tab.goto("/registrierung/daten")
    await page.get_by_label("Anrede").select_option("Herr")
    await page.get_by_label("Vorname").fill("Bernhard")
    await page.get_by_label("Nachname").fill("Tester")
    await page.get_by_role("button", name="Speichern und weiter").click()
    await expect(heading(page, "Geräteregistrierung")).to_be_visible()
    await second_tab.get_by_label("Anrede").select_option("Herr")
    await second_tab.get_by_role("button", name="Speichern und weiter").click()
    await expect(heading(second_tab, "Dieser Schritt ist gerade nicht möglich")).to_be_visible()
    await audit.check(second_tab, "registration: a step that is no longer possible")
    await second_tab.close()
    await audit.check(page, "registration: Geräteregistrierung")
    await page.locator("main").get_by_role("link", name="Weiter").click()
    await expect(heading(page, "Zwei-Faktor-App einrichten")).to_be_visible()
    await audit.check(page, "registration: App herunterladen")
    await page.locator("main").get_by_role("link", name="Weiter").click()
    await expect(heading(page, "Gerät aktivieren")).to_be_visible()
    await audit.check(page, "registration: Aktivierung (no code yet)")
    await page.get_by_role("button", name="Aktivierungscode anzeigen").click()
    code = (await page.locator("#activation-code").inner_text()).strip()
    await audit.check(page, "registration: Aktivierung with the code")

    phone_context = await portal.anonymous(**PHONE_OPTIONS)
    await phone_context.clock.set_fixed_time(clock.now())
    app = await phone_context.new_page()
    await app.goto("/app/")
    await expect(heading(app, "Nutzungsbedingungen")).to_be_visible()
    await audit.check(app, "app: Nutzungsbedingungen")
    await app.get_by_role("button", name="Akzeptieren").click()
    await expect(app.locator("#terms-accepted-error")).to_be_visible()
    await audit.check(app, "app: Nutzungsbedingungen with an error")
    await app.get_by_label("Ich habe die Nutzungsbedingungen gelesen und akzeptiere diese.").check()
    await app.get_by_role("button", name="Akzeptieren").click()
    await expect(heading(app, "Zugangsdaten eingeben")).to_be_visible()
    await audit.check(app, "app: Zugangsdaten")
    await app.get_by_role("button", name="Weiter").click()
    await expect(app.locator("#username-error")).to_be_visible()
    await audit.check(app, "app: Zugangsdaten with errors")
    await app.get_by_label("Benutzername / E-Mail Adresse").fill(EMAIL)
    await app.get_by_label("Aktivierungscode").fill(code)
    await app.get_by_role("button", name="Weiter").click()
    await expect(heading(app, "PIN-Code festlegen")).to_be_visible()
    await audit.check(app, "app: PIN-Code festlegen")
    await app.get_by_label("PIN-Code (6 Ziffern)").fill("123456")
    await app.get_by_label("PIN-Code wiederholen").fill("123456")
    await app.get_by_role("button", name="Aktivieren").click()
    await expect(app.locator("#pin-error")).to_be_visible()
    await audit.check(app, "app: PIN-Code festlegen with an error")
    await app.get_by_label("PIN-Code (6 Ziffern)").fill(PIN)
    await app.get_by_label("PIN-Code wiederholen").fill(PIN)
    await app.get_by_role("button", name="Aktivieren").click()
    await expect(heading(app, "Gerät aktiviert")).to_be_visible(timeout=WAIT)
    await audit.check(app, "app: Gerät aktiviert")
    await app.get_by_role("button", name="Weiter").click()
    await expect(heading(app, "App entsperren")).to_be_visible()
    await audit.check(app, "app: App entsperren")
    await app.get_by_role("button", name="App zurücksetzen").click()
    await expect(heading(app, "App zurücksetzen?")).to_be_visible()
    await audit.check(app, "app: App zurücksetzen?")
    await app.get_by_role("button", name="Abbrechen").click()
    await app.get_by_label("PIN-Code", exact=True).fill(PIN)
    await app.get_by_role("button", name="Entsperren").click()
    await expect(heading(app, "Anmeldungen")).to_be_visible()
    await expect(app.locator("#requests-empty")).to_be_visible()
    await audit.check(app, "app: Anmeldungen (none waiting)")

    await expect(heading(page, "Glückwunsch")).to_be_visible(timeout=WAIT)
    await audit.check(page, "registration: Glückwunsch")
    await page.get_by_role("link", name="Jetzt einloggen").click()
    await page.get_by_label("Benutzername oder E-Mail-Adresse").fill(EMAIL)
    await page.get_by_role("button", name="Weiter").click()
    number = page.locator("#login-number")
    await expect(number).to_have_text(re.compile(r"^\s*\d{3} \d{3}\s*$"))
    await audit.check(page, "the login waiting page (a real request)")
    request = app.locator("#request-list .request")
    await expect(request).to_have_count(1, timeout=WAIT)
    await audit.check(app, "app: Anmeldungen with a request")
    await request.get_by_role("button", name="Bestätigen").click()
    await expect(request.locator(".field-error")).to_be_visible()
    await audit.check(app, "app: Anmeldungen, the number missing")
    await request.get_by_label("Zahl von der Anmeldeseite").fill((await number.inner_text()).strip())
    await request.get_by_role("button", name="Bestätigen").click()
    await expect(app.get_by_role("status")).to_have_text("Anmeldung bestätigt. Sie können im Portal weiterarbeiten.")
    await audit.check(app, "app: Anmeldung bestätigt")

    await expect(heading(page, "Einwilligung in die Datenverarbeitung")).to_be_visible(timeout=WAIT)
    await audit.check(page, "the consent page")
    await page.get_by_role("button", name="Akzeptieren").click()
    await expect(page.locator("#accept_privacy-error")).to_be_visible()
    await audit.check(page, "the consent page with errors")
    await page.get_by_label(re.compile("Ich willige in die Verarbeitung")).check()
    await page.get_by_label(re.compile("Teilnahme- und Nutzungsbedingungen gelesen")).check()
    await page.get_by_role("button", name="Akzeptieren").click()
    await expect(heading(page, "Herzlich Willkommen, Bernhard Tester.")).to_be_visible()
    await audit.check(page, "the start page (logged in)")
    await page.locator("main").get_by_role("link", name="Postfach").click()
    await expect(heading(page, "Postfach")).to_be_visible()
    await audit.check(page, "the Postfach")
    await page.get_by_role("button", name=re.compile(re.escape(DEMO_MESSAGES[0][0]))).click()
    await expect(heading(page, DEMO_MESSAGES[0][0])).to_be_visible()
    await audit.check(page, "a message in the Postfach")
    await page.get_by_role("link", name="Zurück zum Postfach").click()
    await page.get_by_label("Suche nach Betreff oder Absender").fill("gibt es nicht")
    await page.get_by_role("button", name="Suchen").click()
    await expect(page.locator("#messages")).to_contain_text("Keine Nachrichten")
    await audit.check(page, "the Postfach, nothing found")
    await page.goto("/")
    await page.locator("main").get_by_role("link", name="Profil").click()
    await expect(heading(page, "Profil")).to_be_visible()
    await audit.check(page, "the profile")
    audit.assert_clean()


async def test_the_consent_page_after_a_login_without_consent(portal, db, clock):
    """The consent page as an existing person sees it (e.g. after a new document version)."""
    audit = Audit()
    organisation_id = await portal.factory.organisation()
    account_id = await portal.factory.account(organisation_id, role="admin")
    token = await login_session(db, clock, account_id, organisation_id, consent=False)
    context = await admin_context(portal.browser, portal.base_url, token)
    page = await context.new_page()
    await page.goto("/")
    await expect(heading(page, "Einwilligung in die Datenverarbeitung")).to_be_visible()
    await audit.check(page, "the consent page (desktop)")
    audit.assert_clean()


# -- a product owner: the flow studio ------------------------------------------------------


async def test_flow_studio_pages(portal, db, clock):
    from tests.support.flow_copies import shipped_text
    from tests.support.product_owner import operator_account

    audit = Audit()
    await portal.factory.invite()  # a running invitation of version 2, to migrate
    account_id, organisation_id = await operator_account(db)
    token = await login_session(db, clock, account_id, organisation_id)
    context = await admin_context(portal.browser, portal.base_url, token)
    page = await context.new_page()
    await page.goto("/")
    await audit.check(page, "the start page (product owner)")
    await page.locator("main").get_by_role("link", name="Abläufe").click()
    await expect(heading(page, "Abläufe")).to_be_visible()
    await audit.check(page, "Abläufe")
    await page.get_by_role("button", name=re.compile("Neuer Entwurf")).click()
    await expect(page.get_by_label("Ablauf (YAML)")).to_be_visible()
    await audit.check(page, "Entwurf")
    await page.get_by_label("Ablauf (YAML)").fill(shipped_text(version=3, expiry="336 Stunden"))
    await expect(page.locator("#draft-problems")).to_contain_text("timers[0].after")
    await audit.check(page, "Entwurf with a problem (checked while typing)")
    await page.get_by_role("button", name="Prüfen und speichern").click()
    await expect(page.locator("#draft-problems")).to_contain_text("1 Fehler")
    await audit.check(page, "Entwurf saved with a problem")
    await page.get_by_label("Ablauf (YAML)").fill(shipped_text(version=3, expiry="336h"))
    await page.get_by_role("button", name="Prüfen und speichern").click()
    await expect(page.locator("#draft-problems")).to_contain_text("keine Fehler")
    await page.get_by_role("link", name="Vorschau").click()
    await expect(page.get_by_text("Frist der Einladung: 720 h → 336 h")).to_be_visible()
    await audit.check(page, "Vorschau")
    await page.get_by_role("button", name="Simulation starten").click()
    await expect(page.get_by_role("link", name="Aktualisieren")).to_be_visible()
    await audit.check(page, "Simulation: progress")
    from jobs.simulations import run_simulations

    assert await run_simulations(db, clock) == 1  # what the scheduler of a worker does
    await expect(page.locator("#simulation")).to_contain_text("im Zeitraum nachgespielt")  # polled by htmx
    await audit.check(page, "Simulation: result")
    await page.get_by_role("link", name="Zurück zur Vorschau").click()
    await page.get_by_role("button", name="Version 3 veröffentlichen").click()
    await expect(page.get_by_role("status")).to_contain_text("ist veröffentlicht")
    await audit.check(page, "Abläufe after publishing")
    await page.get_by_role("link", name="Migrieren von Version 2").click()
    await expect(page.get_by_role("button", name="Migration starten")).to_be_visible()
    await audit.check(page, "Migrieren")
    await page.get_by_label("Ziel für „Eingeladen“").select_option("")
    await page.get_by_role("button", name="Migration starten").click()
    await expect(page.locator("#map_invited-error")).to_be_visible()
    await audit.check(page, "Migrieren with an incomplete mapping")
    await page.get_by_label("Ziel für „Eingeladen“").select_option("invited")
    await page.get_by_role("button", name="Migration starten").click()
    await expect(page.get_by_role("status")).to_contain_text("Abgeschlossen")
    await audit.check(page, "Migrieren: progress")
    audit.assert_clean()


# -- a product owner: the funnel -----------------------------------------------------------


async def test_the_funnel_of_a_product_owner(portal, db, clock, service):
    """The Trichter (issue 13) with a seeded history, and with a form error."""
    from tests.integration.test_funnel import seed

    audit = Audit()
    await seed(portal.factory, service, clock)
    operator = await portal.factory.organisation("Betreiber des Portals")
    account_id = await portal.factory.account(operator, role="product_owner")
    token = await login_session(db, clock, account_id, operator)
    page = await (await admin_context(portal.browser, portal.base_url, token)).new_page()
    await audit.visit(page, "/trichter", "the funnel")
    await audit.visit(page, "/trichter?von=01.11.2026", "the funnel with a wrong date", status=422)
    audit.assert_clean()
