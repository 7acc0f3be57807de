"""A product owner opens the Trichter in real Chromium and sees the numbers this test
computed itself from the seeded history (issue 13)."""

from __future__ import annotations

from playwright.async_api import expect

from tests.integration.test_funnel import expected_from_history, expected_rows, seed
from tests.support.admin import login_session
from tests.support.browser import admin_context


async def test_a_product_owner_sees_the_funnel_numbers(portal, db, clock, service):
    seeded = await seed(portal.factory, service, clock)
    operator = await portal.factory.organisation("Betreiber des Portals")
    account_id = await portal.factory.account(operator, role="product_owner")
    token = await login_session(db, clock, account_id, operator)
    page = await (await admin_context(portal.browser, portal.base_url, token)).new_page()
    await page.goto("/")
    await page.get_by_role("link", name="Trichter").click()
    await expect(page.get_by_role("heading", name="Trichter", exact=True)).to_be_visible()
    rows = page.locator(".funnel-table tbody tr")
    await expect(rows).to_have_count(5)
    for index, expected in enumerate(expected_rows(await expected_from_history(db))):
        cells = rows.nth(index).locator("td")
        await expect(cells).to_have_text(expected)

    # One organisation, through the form (no JavaScript needed: a GET form).
    await page.get_by_label("Organisation").select_option(label="Pflegedienst Birke")
    await page.get_by_role("button", name="Anzeigen").click()
    want = expected_rows(await expected_from_history(db, organisation=seeded["org_b"]))
    for index, expected in enumerate(want):
        await expect(rows.nth(index).locator("td")).to_have_text(expected)
    await expect(page.locator("#funnel-summary")).to_contain_text("2 Einladungen")
