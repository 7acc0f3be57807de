"""axe-core (WCAG 2.0/2.1 A and AA plus best practices) on every page of the product, in
real Chromium, at the width the page is used at and at 320 px; at 320 px no page may
scroll sideways (WCAG 1.4.10 Reflow), and no heading or badge may break a word without a
hyphen (measured on the rendered text lines, issue 11). The pages are reached the way people reach them
(links, buttons, forms), in the states people see them in (empty and filled, with
form errors, with a dialog open). Every test runs once per language (German, English):
the browser asks for the language (Accept-Language), the steps follow the labels of
tests/support/languages.py, and each page must name its language in `<html lang>`.

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
from tests.support.languages import BROWSER_LOCALES, labels

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


@pytest.fixture(params=["de", "en"])
def language(request) -> str:
    return request.param


@pytest.fixture
def locale(language) -> str:
    """The browser's Accept-Language for the language under test."""
    return BROWSER_LOCALES[language]


@dataclass
class Audit:
    """Runs the checks on a page as it is now and keeps what was found."""

    language: str = "de"
    findings: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    async def check(self, page, where: str, wcag_only: bool = False, lang: str | None = None) -> None:
        """wcag_only: a mail's HTML is no page of the portal; axe's best practices for pages
        (one main landmark, a level-one heading, everything in landmarks) do not apply.
        lang: the page's language when it is not the language under test (a mail is in
        its recipient's language)."""
        width = page.viewport_size["width"]
        expected = lang or self.language
        lang = await page.evaluate("document.documentElement.lang")
        if lang != expected:
            self.findings.append(f"{where} ({page.url}): <html lang={lang!r}>, expected {expected!r}")
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

    async def visit(self, page, path: str, where: str, status: int = 200, wcag_only: bool = False,
                    lang: str | None = None) -> None:
        response = await page.goto(path)
        assert response is not None and response.status == status, (
            f"{where}: GET {path} answered {response.status if response else None}, expected {status}")
        await self.check(page, where, wcag_only, lang)

    def assert_clean(self) -> None:
        assert not self.findings, (
            f"{len(self.findings)} finding(s) on {len(self.checked)} page states:\n\n" + "\n\n".join(self.findings))


def heading(page, name: str):
    return page.get_by_role("heading", name=name, exact=True)


# -- pages for everyone -------------------------------------------------------------------


async def test_public_pages(portal, db, clock, settings, registry, language, locale):
    audit = Audit(language)
    say = labels(language)
    # A mail for the development mailbox (no SMTP configured: the dispatcher keeps it there).
    await portal.factory.invite(email=EMAIL)
    assert (await dispatch_due_mail(db, settings, clock, registry, Signer(settings.secret_key))).sent == 1
    mail_id = (await db.fetch_one(DevMail.select(DevMail.id)))["id"]

    context = await portal.anonymous(locale=locale, language=language)
    page = await context.new_page()
    await audit.visit(page, "/", "the start page (anonymous)")
    await page.get_by_role("link", name=say("Anmelden")).click()
    await expect(heading(page, say("Anmelden"))).to_be_visible()
    await audit.check(page, "the login page")
    await page.get_by_role("button", name=say("Weiter")).click()
    await expect(page.locator("#username-error")).to_be_visible()
    await audit.check(page, "the login page with an error")
    await page.get_by_label(say("Benutzername oder E-Mail-Adresse")).fill("niemand@example.org")
    await page.get_by_role("button", name=say("Weiter")).click()
    await expect(page.locator("#login-number")).to_have_text(re.compile(r"^\s*\d{3} \d{3}\s*$"))
    await audit.check(page, "the login waiting page")
    await audit.visit(page, "/anmelden/beendet/denied", "the login ended page", status=409)
    await audit.visit(page, "/einladung/kein-gueltiger-link", "the neutral invalid-link page", status=404)
    await audit.visit(page, "/gibt-es-nicht", "the error page (404)", status=404)
    for document in ("datenschutz", "nutzungsbedingungen"):
        await audit.visit(page, f"/dokumente/{document}", f"the document {document}")

    # The information pages, reached through the footer every page has.
    for name in map(say, ("Barrierefreiheit", "Hilfe", "Download Zwei-Faktor-Authentifizierung", "Kontakt")):
        await page.goto("/")
        await page.get_by_role("contentinfo").get_by_role("link", name=name, exact=True).click()
        await page.wait_for_load_state()
        await audit.check(page, f"the page {name!r}")
    await page.goto("/hilfe")
    await page.get_by_role("contentinfo").get_by_role("link", name=say("Barriere melden")).click()
    await expect(heading(page, say("Barriere melden"))).to_be_visible()
    await audit.check(page, "the page 'Barriere melden'")
    await page.get_by_label(say("Seite, auf der die Barriere auftritt (optional)")).fill("https://anderswo.example/")
    await page.get_by_role("button", name=say("Meldung senden")).click()
    await expect(page.locator("#description-error")).to_be_visible()
    await audit.check(page, "the page 'Barriere melden' with errors")
    await page.get_by_label(say("Seite, auf der die Barriere auftritt (optional)")).fill("/hilfe")
    await page.get_by_label(say("Beschreibung der Barriere")).fill("Die Tabelle ist mit dem Screenreader schwer zu lesen.")
    await page.get_by_role("button", name=say("Meldung senden")).click()
    await page.wait_for_url(re.compile(r"/barriere-melden/danke$"))
    await audit.check(page, "the thank-you page of 'Barriere melden'")

    # The development mailbox: list, one mail, its HTML part.
    await page.goto("/")
    await page.get_by_role("contentinfo").get_by_role("link", name=say("Entwicklungs-Postfach")).click()
    await page.wait_for_load_state()
    await audit.check(page, "the development mailbox")
    await audit.visit(page, f"/dev/postfach/{mail_id}", "a mail in the development mailbox")
    # The factory invites in German: the mail is German whatever the page's language.
    await audit.visit(page, f"/dev/postfach/{mail_id}/html", "the HTML part of a mail in the development mailbox",
                      wcag_only=True, lang="de")
    audit.assert_clean()


# -- the admin's pages ------------------------------------------------------------------


async def test_admin_pages(portal, db, clock, service, language, locale):
    audit = Audit(language)
    say = labels(language)
    admin = await portal.admin(locale=locale, language=language)
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
    await page.locator("main").get_by_role("link", name=say("Nutzerverwaltung")).click()
    await expect(page.locator("#people-rows tr")).to_have_count(6)
    await audit.check(page, "the Nutzerverwaltung table")
    await page.get_by_role("link", name=say("Nutzer anlegen")).click()
    dialog = page.get_by_role("dialog", name=say("Nutzer einladen"))
    await expect(dialog).to_be_visible()
    await audit.check(page, "the dialog 'Nutzer einladen'")
    await dialog.get_by_role("button", name=say("Einladen")).click()
    await expect(dialog.locator("#first_name-error")).to_be_visible()
    await audit.check(page, "the dialog 'Nutzer einladen' with errors")
    await page.keyboard.press("Escape")
    await expect(page.locator("dialog")).to_have_count(0)

    await page.get_by_role("link", name=say("Ablauf der Registrierung")).click()
    await expect(heading(page, say("Ablauf der Registrierung"))).to_be_visible()
    await audit.check(page, "the flow view")
    await audit.visit(page, "/nutzerverwaltung/neu", "the invite page (without JavaScript's dialog)")
    await audit.visit(page, f"/nutzerverwaltung/{invited.id}", "the detail page of an invited person")
    await audit.visit(page, f"/nutzerverwaltung/{invited.id}/auskunft", "the data subject access page (Auskunft)")

    # CSV-Import: upload page, preview, result.
    await page.goto("/nutzerverwaltung/")
    await page.get_by_role("link", name=say("CSV-Import")).click()
    await expect(page.get_by_label(say("CSV-Datei"))).to_be_visible()
    await audit.check(page, "the CSV import page")
    await page.get_by_label(say("CSV-Datei")).set_input_files(
        {"name": "liste.csv", "mimeType": "text/csv", "buffer": CSV.encode("utf-8")})
    await page.get_by_role("button", name=say("Datei prüfen")).click()
    await expect(page.locator("#import-status")).to_contain_text(say("2 Zeilen gelesen"))
    await audit.check(page, "the CSV import preview")
    await page.get_by_role("button", name=say("1 Person jetzt einladen")).click()
    await expect(page.locator("#import-status")).to_contain_text(say("Import abgeschlossen"), timeout=WAIT)
    await audit.check(page, "the CSV import result")

    # The confirmation page people without JavaScript get before a revocation: the form
    # sent natively, past htmx (axe-core itself needs JavaScript in the page).
    # The row's actions, loaded on demand: axe-core checks them in the table.
    await page.goto("/nutzerverwaltung/")
    await page.locator(f"#person-{invited.id}").get_by_role("link", name=re.compile(say("^Aktionen"))).click()
    await expect(page.locator(f"#person-{invited.id}").get_by_role("button").first).to_be_focused()
    await audit.check(page, "the table with one row's actions opened")
    await page.goto(f"/nutzerverwaltung/{invited.id}")
    revoke = page.locator("form").filter(has=page.get_by_role("button", name=re.compile(say("Einladung widerrufen"))))
    await revoke.evaluate("form => form.submit()")
    await expect(heading(page, say("Einladung widerrufen"))).to_be_visible()
    await audit.check(page, "the confirmation page 'Einladung widerrufen' (as without JavaScript)")
    # Meanwhile another admin revoked the invitation: confirming now is a conflict.
    await service.send(invited.id, "revoke", actor="admin@test")
    await page.get_by_role("button", name=say("Einladung widerrufen")).click()
    await expect(heading(page, say("Aktion nicht möglich"))).to_be_visible()
    await audit.check(page, "the conflict page of the Nutzerverwaltung")

    # A registration that can no longer go on: a session the expiry did not end (the
    # shipped flow's expiry ends registration sessions, INV-9; a flow file may not).
    stale = await portal.factory.invite(org, "zu-spaet@example.org")
    await service.send(stale.id, "expire")
    token = await sessions.create(db, "registration", stale.account_id, org, clock.now(), timedelta(hours=1), instance_id=stale.id)
    late = await (await admin_context(portal.browser, portal.base_url, token, locale=locale, language=language)).new_page()
    await audit.visit(late, "/registrierung/", "the page 'Registrierung nicht möglich'", status=409)
    admin.assert_no_problems(409, 422, ignore="ablauf.svg")
    audit.assert_clean()


# -- an invited person: registration, the app, first login, Postfach ---------------------


async def test_registration_app_and_first_login(portal, db, clock, settings, registry, language, locale):
    audit = Audit(language)
    say = labels(language)
    organisation_id = await portal.factory.organisation()
    for subject, body in DEMO_MESSAGES:
        await db.write([postfach.deliver_step(organisation_id, "Krankenkasse – Bereich Finanzen", subject, body, clock.now())])
    await portal.factory.invite(organisation_id, EMAIL)
    await dispatch_due_mail(db, settings, clock, registry, Signer(settings.secret_key))
    text = (await db.fetch_one(DevMail.select(DevMail.text)))["text"]
    link = re.search(r"https?://\S+(/einladung/\S+)", text).group(1)

    context = await portal.anonymous(**PHONE_OPTIONS, locale=locale, language=language)
    page = await context.new_page()
    await audit.visit(page, link, "the invitation page")
    await page.get_by_role("button", name=say("Registrierung fortsetzen")).click()
    await expect(heading(page, say("Persönliche Daten"))).to_be_visible()
    await audit.check(page, "registration: Persönliche Daten")
    await page.get_by_label(say("Vorname")).fill("")
    await page.get_by_role("button", name=say("Speichern und weiter")).click()
    await expect(page.locator("#first_name-error")).to_be_visible()
    await audit.check(page, "registration: Persönliche Daten with errors")
    second_tab = await context.new_page()  # the same step, left open in another tab
    await second_tab.goto("/registrierung/daten")
    await page.get_by_label(say("Anrede")).select_option("Herr")
    await page.get_by_label(say("Vorname")).fill("Bernhard")
    await page.get_by_label(say("Nachname")).fill("Tester")
    await page.get_by_role("button", name=say("Speichern und weiter")).click()
    await expect(heading(page, say("Geräteregistrierung"))).to_be_visible()
    await second_tab.get_by_label(say("Anrede")).select_option("Herr")
    await second_tab.get_by_role("button", name=say("Speichern und weiter")).click()
    await expect(heading(second_tab, say("Dieser Schritt ist gerade nicht möglich"))).to_be_visible()
    await audit.check(second_tab, "registration: a step that is no longer possible")
    await second_tab.close()
    await audit.check(page, "registration: Geräteregistrierung")
    await page.locator("main").get_by_role("link", name=say("Weiter")).click()
    await expect(heading(page, say("Zwei-Faktor-App einrichten"))).to_be_visible()
    await audit.check(page, "registration: App herunterladen")
    await page.locator("main").get_by_role("link", name=say("Weiter")).click()
    await expect(heading(page, say("Gerät aktivieren"))).to_be_visible()
    await audit.check(page, "registration: Aktivierung (no code yet)")
    await page.get_by_role("button", name=say("Aktivierungscode anzeigen")).click()
    code = (await page.locator("#activation-code").inner_text()).strip()
    await audit.check(page, "registration: Aktivierung with the code")

    phone_context = await portal.anonymous(**PHONE_OPTIONS, locale=locale, language=language)
    await phone_context.clock.set_fixed_time(clock.now())
    app = await phone_context.new_page()
    await app.goto("/app/")
    await expect(heading(app, say("Nutzungsbedingungen"))).to_be_visible()
    await audit.check(app, "app: Nutzungsbedingungen")
    await app.get_by_role("button", name=say("Akzeptieren")).click()
    await expect(app.locator("#terms-accepted-error")).to_be_visible()
    await audit.check(app, "app: Nutzungsbedingungen with an error")
    await app.get_by_label(say("Ich habe die Nutzungsbedingungen gelesen und akzeptiere diese.")).check()
    await app.get_by_role("button", name=say("Akzeptieren")).click()
    await expect(heading(app, say("Zugangsdaten eingeben"))).to_be_visible()
    await audit.check(app, "app: Zugangsdaten")
    await app.get_by_role("button", name=say("Weiter")).click()
    await expect(app.locator("#username-error")).to_be_visible()
    await audit.check(app, "app: Zugangsdaten with errors")
    await app.get_by_label(say("Benutzername / E-Mail Adresse")).fill(EMAIL)
    await app.get_by_label(say("Aktivierungscode")).fill(code)
    await app.get_by_role("button", name=say("Weiter")).click()
    await expect(heading(app, say("PIN-Code festlegen"))).to_be_visible()
    await audit.check(app, "app: PIN-Code festlegen")
    await app.get_by_label(say("PIN-Code (6 Ziffern)")).fill("123456")
    await app.get_by_label(say("PIN-Code wiederholen")).fill("123456")
    await app.get_by_role("button", name=say("Aktivieren")).click()
    await expect(app.locator("#pin-error")).to_be_visible()
    await audit.check(app, "app: PIN-Code festlegen with an error")
    await app.get_by_label(say("PIN-Code (6 Ziffern)")).fill(PIN)
    await app.get_by_label(say("PIN-Code wiederholen")).fill(PIN)
    await app.get_by_role("button", name=say("Aktivieren")).click()
    await expect(heading(app, say("Gerät aktiviert"))).to_be_visible(timeout=WAIT)
    await audit.check(app, "app: Gerät aktiviert")
    await app.get_by_role("button", name=say("Weiter")).click()
    await expect(heading(app, say("App entsperren"))).to_be_visible()
    await audit.check(app, "app: App entsperren")
    await app.get_by_role("button", name=say("App zurücksetzen")).click()
    await expect(heading(app, say("App zurücksetzen?"))).to_be_visible()
    await audit.check(app, "app: App zurücksetzen?")
    await app.get_by_role("button", name=say("Abbrechen")).click()
    await app.get_by_label(say("PIN-Code"), exact=True).fill(PIN)
    await app.get_by_role("button", name=say("Entsperren")).click()
    await expect(heading(app, say("Anmeldungen"))).to_be_visible()
    await expect(app.locator("#requests-empty")).to_be_visible()
    await audit.check(app, "app: Anmeldungen (none waiting)")

    await expect(heading(page, say("Glückwunsch"))).to_be_visible(timeout=WAIT)
    await audit.check(page, "registration: Glückwunsch")
    await page.get_by_role("link", name=say("Jetzt einloggen")).click()
    await page.get_by_label(say("Benutzername oder E-Mail-Adresse")).fill(EMAIL)
    await page.get_by_role("button", name=say("Weiter")).click()
    number = page.locator("#login-number")
    await expect(number).to_have_text(re.compile(r"^\s*\d{3} \d{3}\s*$"))
    await audit.check(page, "the login waiting page (a real request)")
    request = app.locator("#request-list .request")
    await expect(request).to_have_count(1, timeout=WAIT)
    await audit.check(app, "app: Anmeldungen with a request")
    await request.get_by_role("button", name=say("Bestätigen")).click()
    await expect(request.locator(".field-error")).to_be_visible()
    await audit.check(app, "app: Anmeldungen, the number missing")
    await request.get_by_label(say("Zahl von der Anmeldeseite")).fill((await number.inner_text()).strip())
    await request.get_by_role("button", name=say("Bestätigen")).click()
    await expect(app.get_by_role("status")).to_have_text(say("Anmeldung bestätigt. Sie können im Portal weiterarbeiten."))
    await audit.check(app, "app: Anmeldung bestätigt")

    await expect(heading(page, say("Einwilligung in die Datenverarbeitung"))).to_be_visible(timeout=WAIT)
    await audit.check(page, "the consent page")
    await page.get_by_role("button", name=say("Akzeptieren")).click()
    await expect(page.locator("#accept_privacy-error")).to_be_visible()
    await audit.check(page, "the consent page with errors")
    await page.get_by_label(re.compile(say("Ich willige in die Verarbeitung"))).check()
    await page.get_by_label(re.compile(say("Teilnahme- und Nutzungsbedingungen gelesen"))).check()
    await page.get_by_role("button", name=say("Akzeptieren")).click()
    await expect(heading(page, say("Herzlich Willkommen, Bernhard Tester."))).to_be_visible()
    await audit.check(page, "the start page (logged in)")
    await page.locator("main").get_by_role("link", name=say("Postfach")).click()
    await expect(heading(page, say("Postfach"))).to_be_visible()
    await audit.check(page, "the Postfach")
    await page.get_by_role("button", name=re.compile(re.escape(DEMO_MESSAGES[0][0]))).click()
    await expect(heading(page, DEMO_MESSAGES[0][0])).to_be_visible()
    await audit.check(page, "a message in the Postfach")
    await page.get_by_role("link", name=say("Zurück zum Postfach")).click()
    await page.get_by_label(say("Suche nach Betreff oder Absender")).fill("gibt es nicht")
    await page.get_by_role("button", name=say("Suchen")).click()
    await expect(page.locator("#messages")).to_contain_text(say("Keine Nachrichten"))
    await audit.check(page, "the Postfach, nothing found")
    await page.goto("/")
    await page.locator("main").get_by_role("link", name=say("Profil")).click()
    await expect(heading(page, say("Profil"))).to_be_visible()
    await audit.check(page, "the profile")
    audit.assert_clean()


async def test_the_consent_page_after_a_login_without_consent(portal, db, clock, language, locale):
    """The consent page as an existing person sees it (e.g. after a new document version)."""
    audit = Audit(language)
    say = labels(language)
    organisation_id = await portal.factory.organisation()
    account_id = await portal.factory.account(organisation_id, role="admin")
    token = await login_session(db, clock, account_id, organisation_id, consent=False)
    context = await admin_context(portal.browser, portal.base_url, token, locale=locale, language=language)
    page = await context.new_page()
    await page.goto("/")
    await expect(heading(page, say("Einwilligung in die Datenverarbeitung"))).to_be_visible()
    await audit.check(page, "the consent page (desktop)")
    audit.assert_clean()


# -- a product owner: the flow studio ------------------------------------------------------


async def test_flow_studio_pages(portal, db, clock, language, locale):
    from tests.support.flow_copies import shipped_text
    from tests.support.product_owner import operator_account

    audit = Audit(language)
    say = labels(language)
    await portal.factory.invite()  # a running invitation of version 2, to migrate
    account_id, organisation_id = await operator_account(db)
    token = await login_session(db, clock, account_id, organisation_id)
    context = await admin_context(portal.browser, portal.base_url, token, locale=locale, language=language)
    page = await context.new_page()
    await page.goto("/")
    await audit.check(page, "the start page (product owner)")
    await page.locator("main").get_by_role("link", name=say("Abläufe")).click()
    await expect(heading(page, say("Abläufe"))).to_be_visible()
    await audit.check(page, "Abläufe")
    await page.get_by_role("button", name=re.compile(say("Neuer Entwurf"))).click()
    await expect(page.get_by_label(say("Ablauf (YAML)"))).to_be_visible()
    await audit.check(page, "Entwurf")
    await page.get_by_label(say("Ablauf (YAML)")).fill(shipped_text(version=3, expiry="336 Stunden"))
    await expect(page.locator("#draft-problems")).to_contain_text("timers[0].after")
    await audit.check(page, "Entwurf with a problem (checked while typing)")
    await page.get_by_role("button", name=say("Prüfen und speichern")).click()
    await expect(page.locator("#draft-problems")).to_contain_text(say("1 Fehler"))
    await audit.check(page, "Entwurf saved with a problem")
    await page.get_by_label(say("Ablauf (YAML)")).fill(shipped_text(version=3, expiry="336h"))
    await page.get_by_role("button", name=say("Prüfen und speichern")).click()
    await expect(page.locator("#draft-problems")).to_contain_text(say("keine Fehler"))
    await page.get_by_role("link", name=say("Vorschau")).click()
    await expect(page.get_by_text(say("Frist der Einladung: 720 h → 336 h"))).to_be_visible()
    await audit.check(page, "Vorschau")
    await page.get_by_role("button", name=say("Simulation starten")).click()
    await expect(page.get_by_role("link", name=say("Aktualisieren"))).to_be_visible()
    await audit.check(page, "Simulation: progress")
    from jobs.simulations import run_simulations

    assert await run_simulations(db, clock) == 1  # what the scheduler of a worker does
    await expect(page.locator("#simulation")).to_contain_text(say("im Zeitraum nachgespielt"))  # polled by htmx
    await audit.check(page, "Simulation: result")
    await page.get_by_role("link", name=say("Zurück zur Vorschau")).click()
    await page.get_by_role("button", name=say("Version 3 veröffentlichen")).click()
    await expect(page.get_by_role("status")).to_contain_text(say("ist veröffentlicht"))
    await audit.check(page, "Abläufe after publishing")
    await page.get_by_role("link", name=say("Migrieren von Version 2")).click()
    await expect(page.get_by_role("button", name=say("Migration starten"))).to_be_visible()
    await audit.check(page, "Migrieren")
    await page.get_by_label(say("Ziel für „Eingeladen“")).select_option("")
    await page.get_by_role("button", name=say("Migration starten")).click()
    await expect(page.locator("#map_invited-error")).to_be_visible()
    await audit.check(page, "Migrieren with an incomplete mapping")
    await page.get_by_label(say("Ziel für „Eingeladen“")).select_option("invited")
    await page.get_by_role("button", name=say("Migration starten")).click()
    await expect(page.get_by_role("status")).to_contain_text(say("Abgeschlossen"))
    await audit.check(page, "Migrieren: progress")
    audit.assert_clean()


# -- a product owner: the funnel -----------------------------------------------------------


async def test_the_funnel_of_a_product_owner(portal, db, clock, service, language, locale):
    """The Trichter (issue 13) with a seeded history, and with a form error."""
    from tests.integration.test_funnel import seed

    audit = Audit(language)
    say = labels(language)
    await seed(portal.factory, service, clock)
    operator = await portal.factory.organisation("Betreiber des Portals")
    account_id = await portal.factory.account(operator, role="product_owner")
    token = await login_session(db, clock, account_id, operator)
    page = await (await admin_context(portal.browser, portal.base_url, token, locale=locale, language=language)).new_page()
    await audit.visit(page, "/trichter", "the funnel")
    await audit.visit(page, "/trichter?von=01.11.2026", "the funnel with a wrong date", status=422)
    audit.assert_clean()
