"""Defects a person got stuck on while walking the manual (issue 11), in real Chromium:
the app checks the activation code before the PIN and explains a used-up code while the
portal replaces it with advice; the used invitation link offers the login; a protected
page opened while logged out leads through the login and back to that page, a
same-site path only."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.test_companion_app import phone_app, registration_at_activation
from tests.support.admin import give_consent
from tests.support.browser import assert_no_axe_violations
from tests.support.device import Device
from tests.support.environment import chromium_path, require
from tests.support.invitee import Invitee

EMAIL = "b.tester@abc.de"
WAIT = 10_000  # ms: the waiting page polls every 2 s


@pytest.fixture(autouse=True)
def needs_chromium():
    require(chromium_path() is not None, "Chromium")


def heading(page, name: str):
    return page.get_by_role("heading", name=name, exact=True)


async def registered_person(portal, settings, client: httpx.AsyncClient):
    """A person who finished the registration (over HTTP) and accepted the documents;
    returns the used invitation link and the activated app."""
    record = await portal.factory.invite(email=EMAIL)
    person = Invitee(client, portal.db, portal.clock, settings.secret_key)
    code = await person.register(record.id)
    device = Device(client, portal.clock)
    activated = await device.activate(EMAIL, code.replace(" ", ""))
    assert activated.status_code == 201, activated.text
    await give_consent(portal.db, portal.clock, record.account_id, record.organisation_id)
    return person.link, device


async def log_in_from(page, device: Device) -> None:
    """Types the address into the form on the page and approves the request in the app."""
    await page.get_by_label("Benutzername oder E-Mail-Adresse").fill(EMAIL)
    await page.get_by_role("button", name="Weiter").click()
    number = page.locator("#login-number")
    await expect(number).to_have_text(re.compile(r"^\s*\d{3} \d{3}\s*$"))
    pending = (await device.requests()).json()["requests"]
    assert len(pending) == 1, pending
    # The person types the number the page shows into the app (PIN-6).
    assert (await device.answer(pending[0], number=(await number.inner_text()).strip())).status_code == 200


async def enter_code(app, code: str) -> None:
    await app.get_by_label("Aktivierungscode").fill(code)
    await app.get_by_role("button", name="Weiter").click()


async def test_the_app_explains_wrong_and_used_up_codes_before_the_pin_and_the_portal_follows_ACT2(portal, settings):
    desk, code = await registration_at_activation(portal, settings)
    _, app, _ = await phone_app(portal)
    await app.get_by_label("Ich habe die Nutzungsbedingungen gelesen und akzeptiere diese.").check()
    await app.get_by_role("button", name="Akzeptieren").click()
    await app.get_by_label("Benutzername / E-Mail Adresse").fill(EMAIL)
    wrong = "0000 0000" if code != "0000 0000" else "1111 1111"
    error = app.locator("#code-error")
    for left in ("4 Versuche", "3 Versuche", "2 Versuche", "einen Versuch"):
        await enter_code(app, wrong)
        await expect(error).to_have_text(f"Der Aktivierungscode ist nicht korrekt. Sie haben noch {left}.")
        # Told at once, on the same screen: no PIN is asked for a wrong code.
        await expect(heading(app, "Zugangsdaten eingeben")).to_be_visible()
        await expect(app.get_by_label("Aktivierungscode")).to_be_focused()
    await assert_no_axe_violations(app, "the app with a wrong code")
    await enter_code(app, wrong)
    await expect(error).to_contain_text("verbraucht")
    await expect(error).to_contain_text("„Neuen Code anzeigen“")
    await enter_code(app, code)  # the right code, too late: the same advice
    await expect(error).to_contain_text("„Neuen Code anzeigen“")

    # The portal notices by itself (it polls) and replaces the dead code with the advice.
    await expect(desk.locator("#activation-code-dead")).to_contain_text("verbraucht", timeout=WAIT)
    await expect(desk.locator("#activation-code")).to_have_count(0)
    await expect(desk.get_by_text("Der Code gilt")).to_have_count(0)
    await assert_no_axe_violations(desk, "the activation page with a used-up code")

    await desk.get_by_role("button", name="Neuen Code anzeigen").click()
    fresh = (await desk.locator("#activation-code").inner_text()).strip()
    await enter_code(app, fresh)
    await expect(heading(app, "PIN-Code festlegen")).to_be_focused()


async def test_a_used_invitation_link_offers_the_login_INV8(portal, settings):
    """The neutral page (the same for used, expired and forged links) lets a registered person log in."""
    async with httpx.AsyncClient(base_url=portal.base_url) as client:
        used_link, _ = await registered_person(portal, settings, client)
    page = await (await portal.anonymous()).new_page()
    response = await page.goto(used_link)
    assert response.status == 404
    await expect(heading(page, "Dieser Link kann nicht verwendet werden")).to_be_visible()
    await expect(heading(page, "Sie haben sich bereits registriert?")).to_be_visible()
    await page.locator("main").get_by_role("link", name="Anmelden").click()
    await expect(heading(page, "Anmelden")).to_be_visible()
    forged = await page.goto(used_link[:-4] + "AAAA")
    assert forged.status == 404
    await expect(page.locator("main").get_by_role("link", name="Anmelden")).to_be_visible()


async def test_a_bookmarked_page_opened_logged_out_leads_through_the_login_back_to_it(portal, settings):
    async with httpx.AsyncClient(base_url=portal.base_url) as client:
        _, device = await registered_person(portal, settings, client)
        page = await (await portal.anonymous()).new_page()
        response = await page.goto("/profil?ansicht=voll")
        assert response.status == 401
        await expect(heading(page, "Bitte melden Sie sich an")).to_be_visible()
        await expect(page.get_by_text("Es ist ein Fehler aufgetreten")).to_have_count(0)
        await log_in_from(page, device)
        await expect(page).to_have_url(re.compile(r"/profil\?ansicht=voll$"), timeout=WAIT)
        await expect(heading(page, "Profil")).to_be_visible()


async def test_a_foreign_return_address_is_ignored(portal, settings):
    """No open redirect: a crafted login link ends on the portal's start page (the other
    forms of a foreign address: tests/unit/test_return_path.py)."""
    async with httpx.AsyncClient(base_url=portal.base_url) as client:
        _, device = await registered_person(portal, settings, client)
        page = await (await portal.anonymous()).new_page()
        await page.goto("/anmelden?weiter=" + quote("//evil.example/profil", safe=""))
        await log_in_from(page, device)
        await expect(page).to_have_url(portal.base_url + "/", timeout=WAIT)
        await expect(heading(page, "Herzlich Willkommen, Bernhard Tester.")).to_be_visible()
