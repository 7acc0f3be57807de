"""axe-core on every page in Leichte Sprache (de-x-ls), in real Chromium, at the usual
width and at 320 px, with the same checks as tests/e2e/test_accessibility_all_pages.py
(including the `lang` rules: Leichte Sprache is German, <html lang="de">)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.async_api import expect

from tests.e2e.test_accessibility_all_pages import Audit, heading
from tests.support.admin import login_session
from tests.support.browser import admin_context


async def in_leichte_sprache(portal, session_token: str | None = None):
    """A browser context that has chosen Leichte Sprache."""
    context = await admin_context(portal.browser, portal.base_url, session_token)
    await context.add_cookies([{"name": "pp_lang", "value": "de-x-ls", "domain": urlsplit(portal.base_url).hostname,
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
