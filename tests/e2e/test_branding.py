"""The portal in an operator's brand (issue 11): the demo's fictitious insurer
"Nordkasse" (logo, name, colour, header and footer texts) in real Chromium, with
axe-core at zero violations and no sideways scrolling at 320 px on the branded pages."""

from __future__ import annotations

import dataclasses

import pytest
from playwright.async_api import expect

from partnerportal.demo import DEMO_BRAND, with_demo_brand
from tests.support.browser import assert_no_axe_violations, horizontal_overflow, words_broken_without_hyphen
from tests.support.environment import chromium_path, require

NARROW = {"width": 320, "height": 640}
BRAND_RGB = "rgb(11, 83, 148)"  # #0b5394


@pytest.fixture(autouse=True)
def needs_chromium():
    require(chromium_path() is not None, "Chromium")


@pytest.fixture
def settings(settings):
    """The test settings in the demo's brand (the defaults name no brand of their own)."""
    plain = dataclasses.replace(settings, portal_name="Partnerportal")
    return with_demo_brand(plain)


async def check_branded(page, where: str) -> None:
    await assert_no_axe_violations(page, f"{where} (branded)")
    width = page.viewport_size
    await page.set_viewport_size(NARROW)
    try:
        await assert_no_axe_violations(page, f"{where} (branded, 320 px)")
        assert await horizontal_overflow(page) is None, f"{where} scrolls sideways at 320 px"
        assert await words_broken_without_hyphen(page) == [], where
    finally:
        await page.set_viewport_size(width)


async def test_the_demo_brand_shows_on_every_kind_of_page_without_axe_violations(portal):
    admin = await portal.admin()
    page = await admin.page("/")
    header = page.locator(".site-header")
    assert await header.evaluate("e => getComputedStyle(e).backgroundColor") == BRAND_RGB
    logo = header.locator("img.brand-logo")
    await expect(logo).to_be_visible()
    assert await logo.evaluate("img => img.complete && img.naturalWidth > 0"), "the logo did not load"
    await expect(header.get_by_role("link", name=DEMO_BRAND["portal_name"])).to_be_visible()
    await expect(header).to_contain_text(DEMO_BRAND["brand_header_text"])
    await expect(page.locator(".site-footer")).to_contain_text(DEMO_BRAND["brand_footer_text"])
    await expect(page.locator("main .lead")).to_contain_text("beim Nordkasse Partnerportal")
    await check_branded(page, "the start page")
    for path, where in (("/nutzerverwaltung/", "the Nutzerverwaltung"), ("/postfach", "the Postfach"), ("/profil", "the profile")):
        await page.goto(path)
        await check_branded(page, where)
    button = page.get_by_role("button", name="Abmelden", exact=True)
    assert await button.evaluate("b => getComputedStyle(b).color") == BRAND_RGB

    visitor = await (await portal.anonymous()).new_page()
    for path, where, status in (("/", "the anonymous start page", 200), ("/anmelden", "the login page", 200),
                                ("/postfach", "the login asked for by a protected page", 401), ("/kontakt", "Kontakt", 200)):
        response = await visitor.goto(path)
        assert response.status == status, where
        await check_branded(visitor, where)

    app = await (await portal.anonymous(viewport={"width": 390, "height": 844})).new_page()
    await app.goto("/app/")
    await expect(app.get_by_role("heading", name="Nutzungsbedingungen", exact=True)).to_be_visible()
    assert await app.locator(".app-header").evaluate("e => getComputedStyle(e).backgroundColor") == BRAND_RGB
    await check_branded(app, "the Zwei-Faktor-App")
    admin.assert_no_problems(401)
