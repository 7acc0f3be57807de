"""axe-core on every page in Leichte Sprache (de-x-ls), in real Chromium, at the usual
width and at 320 px, with the same checks as tests/e2e/test_accessibility_all_pages.py
(including the `lang` rules: Leichte Sprache is German, <html lang="de">)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.async_api import expect

from core.i18n import LEICHTE_SPRACHE
from core.signing import Signer
from db.tables import DevMail
from jobs.outbox import dispatch_due_mail
from tests.e2e.test_accessibility_all_pages import EMAIL, PHONE_OPTIONS, PIN, WAIT, Audit, heading
from tests.support.admin import login_session
from tests.support.browser import admin_context
from web.i18n import LANGUAGE_COOKIE


async def in_leichte_sprache(portal, session_token: str | None = None, **options):
    """A browser context that has chosen Leichte Sprache."""
    context = await admin_context(portal.browser, portal.base_url, session_token, **options)
    await context.add_cookies([{"name": LANGUAGE_COOKIE, "value": LEICHTE_SPRACHE, "domain": urlsplit(portal.base_url).hostname,
                                "path": "/", "sameSite": "Lax", "secure": False}])
    return context


async def test_public_pages_in_leichte_sprache(portal):
    audit = Audit()
    page = await (await in_leichte_sprache(portal)).new_page()
    for path, name in (("/hilfe", "Hilfe in Leichter Sprache"), ("/barrierefreiheit", "Barriere-Freiheit in Leichter Sprache")):
        await audit.visit(page, path, f"the page {name!r}")
        await expect(heading(page, name)).to_be_visible()
    await audit.visit(page, "/diese-seite-gibt-es-nicht", "the error page 'not found'", status=404)
    await expect(heading(page, "Wir finden diese Seite nicht")).to_be_visible()
    await audit.visit(page, "/einladung/kein-gueltiger-link", "the page of a link that cannot be used", status=404)
    await expect(heading(page, "Dieser Link geht nicht mehr")).to_be_visible()
    await audit.visit(page, "/nutzerverwaltung/", "a page that needs a login", status=401)

    await page.goto("/hilfe")
    await page.get_by_role("contentinfo").get_by_role("link", name="Barriere melden").click()
    await expect(heading(page, "Barriere melden")).to_be_visible()
    await audit.check(page, "the page 'Barriere melden'")
    await page.get_by_label("Auf welcher Seite ist die Barriere?").fill("https://anderswo.example/")
    await page.get_by_role("button", name="Meldung abschicken").click()
    await expect(page.locator("#description-error")).to_be_visible()
    await audit.check(page, "the page 'Barriere melden' with errors")
    await page.get_by_label("Auf welcher Seite ist die Barriere?").fill("/hilfe")
    await page.get_by_label("Was ist passiert?").fill("Der Knopf ist zu klein.")
    await page.get_by_role("button", name="Meldung abschicken").click()
    await page.wait_for_url(re.compile(r"/barriere-melden/danke$"))
    await expect(heading(page, "Danke für Ihre Meldung")).to_be_visible()
    await audit.check(page, "the thank-you page of 'Barriere melden'")
    audit.assert_clean()


async def test_consent_page_in_leichte_sprache(portal, db, clock):
    audit = Audit()
    organisation_id = await portal.factory.organisation()
    account_id = await portal.factory.account(organisation_id)
    token = await login_session(db, clock, account_id, organisation_id, consent=False)
    page = await (await in_leichte_sprache(portal, token)).new_page()
    await page.goto("/")
    await expect(heading(page, "Ihre Erlaubnis für Ihre Daten")).to_be_visible()
    await audit.check(page, "the consent page")
    await page.get_by_role("button", name="Ja, ich bin einverstanden").click()
    await expect(page.locator("#accept_privacy-error")).to_be_visible()
    await audit.check(page, "the consent page with errors")
    audit.assert_clean()


async def test_registration_and_app_activation_in_leichte_sprache(portal, db, clock, settings, registry):
    audit = Audit()
    await portal.factory.invite(email=EMAIL)
    await dispatch_due_mail(db, settings, clock, registry, Signer(settings.secret_key))
    text = (await db.fetch_one(DevMail.select(DevMail.text)))["text"]
    link = re.search(r"https?://\S+(/einladung/\S+)", text).group(1)

    page = await (await in_leichte_sprache(portal, **PHONE_OPTIONS)).new_page()
    await audit.visit(page, link, "the invitation's page")
    await page.get_by_role("button", name="Registrierung fortsetzen").click()
    await expect(heading(page, "Ihre Daten")).to_be_visible()
    await audit.check(page, "registration: Ihre Daten")
    await page.get_by_label("Vorname").fill("")
    await page.get_by_role("button", name="Speichern und weiter").click()
    await expect(page.locator("#first_name-error")).to_be_visible()
    await audit.check(page, "registration: Ihre Daten with errors")
    await page.get_by_label("Anrede").select_option("Herr")
    await page.get_by_label("Vorname").fill("Bernhard")
    await page.get_by_label("Nachname").fill("Tester")
    await page.get_by_role("button", name="Speichern und weiter").click()
    await expect(heading(page, "Ihr Gerät schützt Ihren Zugang")).to_be_visible()
    await audit.check(page, "registration: device")
    await page.locator("main").get_by_role("link", name="Weiter").click()
    await expect(heading(page, "Die Zwei-Faktor-App einrichten")).to_be_visible()
    await audit.check(page, "registration: the app")
    await page.locator("main").get_by_role("link", name="Weiter").click()
    await expect(heading(page, "Ihr Gerät mit dem Zugang verbinden")).to_be_visible()
    await audit.check(page, "registration: activation (no code yet)")
    await page.get_by_role("button", name="Aktivierungs-Code anzeigen").click()
    code = (await page.locator("#activation-code").inner_text()).strip()
    await audit.check(page, "registration: activation with the code")

    phone = await in_leichte_sprache(portal, **PHONE_OPTIONS)
    await phone.clock.set_fixed_time(clock.now())
    app = await phone.new_page()
    await app.goto("/app/")
    await expect(heading(app, "Regeln für die App")).to_be_visible()
    await audit.check(app, "app: terms")
    await app.get_by_label("Ich habe die Nutzungsbedingungen gelesen und akzeptiere diese.").check()
    await app.get_by_role("button", name="Ja, ich bin einverstanden").click()
    await expect(heading(app, "Ihre Daten eingeben")).to_be_visible()
    await audit.check(app, "app: credentials")
    await app.get_by_label("Benutzer-Name oder E-Mail-Adresse").fill(EMAIL)
    await app.get_by_label("Aktivierungs-Code").fill(code)
    await app.get_by_role("button", name="Weiter").click()
    await expect(heading(app, "Einen PIN-Code ausdenken")).to_be_visible()
    await audit.check(app, "app: PIN")
    await app.get_by_label("PIN-Code (6 Ziffern)").fill(PIN)
    await app.get_by_label("PIN-Code noch einmal").fill(PIN)
    await app.get_by_role("button", name="Aktivieren").click()
    await expect(heading(app, "Ihr Gerät ist fertig")).to_be_visible(timeout=WAIT)
    await audit.check(app, "app: activated")

    await expect(heading(page, "Geschafft")).to_be_visible(timeout=WAIT)
    await audit.check(page, "registration: done")
    audit.assert_clean()
