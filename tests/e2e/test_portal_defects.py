"""Defects a person got stuck on while walking the manual (issue 11), in real Chromium:
the used invitation link offers the login; a protected page opened while logged out
leads through the login and back to that page, a same-site path only."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import expect

from tests.support.admin import give_consent
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
    await expect(page.locator("#login-number")).to_have_text(re.compile(r"^\s*\d{2}\s*$"))
    pending = (await device.requests()).json()["requests"]
    assert len(pending) == 1, pending
    assert (await device.answer(pending[0])).status_code == 200


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
