"""Layout on phones and desktops (issue 11), measured in real Chromium on the rendered
boxes and text lines, not on pictures: one-line rows in the Nutzerverwaltung at 1280 px,
destructive actions set apart, the Postfach subject in line with its row, the start
page, the wizard's progress at 320 px, and the app's focus and button order."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from db import postfach
from partnerportal.demo import DEMO_MESSAGES
from tests.e2e.test_companion_app import phone_app, registration_at_activation
from tests.support.environment import chromium_path, require

DESKTOP = {"width": 1280, "height": 900}
NARROW = {"width": 320, "height": 640}

# Lines of the visible text in an element: the text's boxes grouped by vertical centre.
LINES_JS = """(element) => {
  const centres = [];
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    // Skipped: a closed menu's items, and text only screen readers get.
    if (!node.data.trim() || !parent.checkVisibility() || parent.closest('.visually-hidden')) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) {
      if (r.width > 0 && r.height > 0) centres.push((r.top + r.bottom) / 2);
    }
  }
  centres.sort((a, b) => a - b);
  let bands = 0, last = -Infinity;
  for (const c of centres) { if (c - last > 8) { bands++; last = c; } }
  return bands;
}"""


DANGER = "rgb(176, 0, 32)"  # #b00020


async def style_of(locator, prop: str) -> str:
    return await locator.evaluate("(element, prop) => getComputedStyle(element)[prop]", prop)


@pytest.fixture(autouse=True)
def needs_chromium():
    require(chromium_path() is not None, "Chromium")


async def test_people_table_rows_are_one_line_at_1280_and_destructive_actions_stand_out(portal, service):
    admin = await portal.admin(viewport=DESKTOP)
    org = admin.organisation_id
    invited = await portal.factory.invite(org, "m.schneider@pflegedienst-sonnenschein.de")
    started = await portal.factory.invite(org, "k.mustermann@pflegedienst-sonnenschein.de")
    await service.send(started.id, "complete_profile", data={"first_name": "Kathrin", "last_name": "Mustermann"})
    done = await portal.factory.invite(org, "b.tester@abc.de")
    await service.send(done.id, "complete_profile", data={"first_name": "Bernhard", "last_name": "Tester"})
    await service.send(done.id, "activate_device", actor="app")
    page = await admin.page("/nutzerverwaltung/")
    await expect(page.locator("#people-rows tr")).to_have_count(3)
    await expect(page.locator(f"#person-{done.id} .badge")).to_have_text("Erfolgreich abgeschlossen")

    wrap = await page.evaluate("""() => { const w = document.getElementById('people-table');
        return [w.scrollWidth, w.clientWidth, [...w.querySelectorAll('th')].map(th => Math.round(th.getBoundingClientRect().width))]; }""")
    assert wrap[0] <= wrap[1], f"the table scrolls sideways at 1280 px (widths, column widths): {wrap}"
    for row in await page.locator("#people-rows tr").all():
        for cell in await row.locator("td").all():
            lines = await cell.evaluate(LINES_JS)
            assert lines == 1, f"{await cell.get_attribute('data-label')} of {await row.inner_text()!r} takes {lines} lines"
    for badge in await page.locator("#people-rows .badge").all():
        assert await badge.evaluate(LINES_JS) == 1

    # Destructive actions (the flow's confirm: Löschen, Widerrufen, Sperren) look different.
    await page.locator(f"#person-{invited.id}").get_by_text("Aktionen").click()
    menu = page.locator(f"#person-{invited.id} .row-menu-items")
    harmless = await style_of(menu.get_by_role("button", name="Einladung erneut senden"), "color")
    destructive = await style_of(menu.get_by_role("button", name="Löschen"), "color")
    assert harmless != destructive and destructive == DANGER
    detail = await admin.page(f"/nutzerverwaltung/{invited.id}")
    assert await style_of(detail.get_by_role("button", name="Löschen", exact=True), "backgroundColor") == DANGER
    assert await style_of(detail.get_by_role("button", name="Einladung erneut senden", exact=True), "backgroundColor") != DANGER
    admin.assert_no_problems()


async def test_postfach_subject_sits_in_line_and_left_aligned(portal, db, clock):
    admin = await portal.admin(viewport=DESKTOP)
    subject, body = DEMO_MESSAGES[0]
    await db.write([postfach.deliver_step(admin.organisation_id, "Krankenkasse – Bereich Finanzen", subject, body, clock.now())])
    page = await admin.page("/postfach")
    row = page.locator("#messages tbody tr").first
    sender, subject_text = row.locator("td").first, row.locator(".subject-text")
    tops = await page.evaluate("""([a, b]) => [a, b].map(e => {
        const r = document.createRange(); r.selectNodeContents(e); return r.getClientRects()[0].top; })""",
        [await sender.element_handle(), await subject_text.element_handle()])
    assert abs(tops[0] - tops[1]) <= 1, f"sender and subject start at different heights: {tops}"
    # The underline belongs to the subject's words only, not to the badge or a space before them.
    assert await style_of(row.locator(".subject-button"), "textDecorationLine") == "none"
    assert await style_of(subject_text, "textDecorationLine") == "underline"
    await page.set_viewport_size(NARROW)
    left_of = "e => { const r = document.createRange(); r.selectNodeContents(e); return r.getClientRects()[0].left; }"
    button_left = await row.locator(".subject-button").evaluate(left_of)
    sender_left = await sender.evaluate("e => e.getBoundingClientRect().left")
    assert abs(button_left - sender_left) <= 1, "the subject is not left-aligned with the rest of the card at 320 px"
    admin.assert_no_problems()


async def test_start_page_greets_without_a_lone_portal_name(portal):
    admin = await portal.admin(viewport=DESKTOP)
    page = await admin.page("/")
    after_heading = page.locator("main h1 + *")
    text = (await after_heading.inner_text()).strip()
    assert text != "Partnerportal" and "Partnerportal" in text and len(text.split()) > 3, text


async def test_wizard_progress_is_one_line_at_320_and_the_app_keeps_its_order(portal, settings):
    desk, _ = await registration_at_activation(portal, settings)
    await desk.set_viewport_size(NARROW)
    compact = desk.locator(".progress-compact")
    await expect(compact).to_have_text("Schritt 4 von 5: Aktivierung")
    await expect(desk.locator(".progress-steps ol")).to_be_hidden()
    assert await compact.evaluate(LINES_JS) == 1

    _, app, _ = await phone_app(portal)
    await app.get_by_label("Ich habe die Nutzungsbedingungen gelesen und akzeptiere diese.").check()
    await app.get_by_role("button", name="Akzeptieren").click()
    title = app.get_by_role("heading", name="Zugangsdaten eingeben")
    await expect(title).to_be_focused()  # screen readers start at the heading ...
    assert await style_of(title, "outlineStyle") == "none"  # ... without a box around it
    back = await app.get_by_role("button", name="Zurück").bounding_box()
    forward = await app.get_by_role("button", name="Weiter").bounding_box()
    assert back["x"] < forward["x"], "back belongs on the left, forward on the right"
