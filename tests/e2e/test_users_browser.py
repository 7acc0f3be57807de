"""Nutzerverwaltung in a real browser: the invite dialog, live badges across browsers and
organisations, keyboard use, axe-core and 320 px reflow, and the same work without
JavaScript (invite, and a row action with its confirmation page). Screenshots of the key steps go to pytest's tmp dir (screenshots/)."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import expect

from db.engine import Database
from db.tables import FlowInstance
from tests.support.browser import assert_no_axe_violations, horizontal_overflow
from workflows.service import FlowService

TABLE = "/nutzerverwaltung/"


async def open_table(admin):
    """The table, with its live stream open and subscribed."""
    page = await admin.page()
    async with page.expect_response(lambda r: r.url.endswith("/nutzerverwaltung/live")) as live:
        await page.goto(TABLE)
    assert (await live.value).status == 200
    # The stream's first event comes once its feed knows where the history stands (nothing
    # older is news): from then on no change is missed.
    await expect(page.locator("#live-ready")).to_have_text("bereit")
    await page.evaluate("""() => {
        window.__notReloaded = true;
        window.__liveRows = 0;
        document.body.addEventListener("htmx:sseMessage", e => { if (e.detail.type === "row") window.__liveRows += 1; });
    }""")
    return page


async def live_rows_arrived(page, count: int) -> None:
    """Waits until the stream has delivered `count` row updates since the table opened."""
    await page.wait_for_function("n => window.__liveRows >= n", arg=count)


async def not_reloaded(page) -> bool:
    return await page.evaluate("window.__notReloaded === true")


def row_of(page, instance_id: int):
    return page.locator(f"#person-{instance_id}")


async def open_actions(page, instance_id: int):
    """Clicks the row's "Aktionen" and waits until its actions have arrived."""
    row = row_of(page, instance_id)
    await row.get_by_role("link", name=re.compile("^Aktionen")).click()
    await expect(row.locator("form").first).to_be_visible()
    return row


async def focus_outline(page) -> dict:
    return await page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor}; }"""
    )


async def active_element(page) -> str:
    return await page.evaluate(
        """() => { const e = document.activeElement;
                   return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' ' + (e.textContent || '').trim().slice(0, 40); }"""
    )


async def states(db) -> list[str]:
    rows = await db.fetch(FlowInstance.select(FlowInstance.state))
    return [r["state"] for r in rows]


# -- 1. "Nutzer anlegen" in a modal dialog ------------------------------------------


async def test_invite_in_the_dialog_adds_the_row_without_a_reload(portal, db):
    admin = await portal.admin()
    page = await open_table(admin)
    await page.get_by_role("link", name="Nutzer anlegen").click()

    dialog = page.get_by_role("dialog", name="Nutzer einladen")
    await expect(dialog).to_be_visible()
    assert await page.evaluate("document.getElementById('invite-dialog').matches(':modal')")
    assert await page.evaluate("document.getElementById('invite-dialog').contains(document.activeElement)"), (
        f"focus is outside the dialog: {await active_element(page)}"
    )
    await portal.screenshot(page, "dialog open")

    await dialog.get_by_label("Anrede").select_option("Frau")
    await dialog.get_by_label("Vorname").fill("Zoë")
    await dialog.get_by_label("Nachname").fill("d’Arc")
    await dialog.get_by_label("E-Mail", exact=True).fill("keine-adresse")
    await dialog.get_by_role("button", name="Einladen").click()

    error = dialog.locator("#email-error")
    await expect(error).to_contain_text("gültige E-Mail-Adresse")
    await expect(dialog.get_by_label("E-Mail", exact=True)).to_have_attribute("aria-describedby", "email-error")
    await expect(dialog.get_by_label("E-Mail", exact=True)).to_have_attribute("aria-invalid", "true")
    await expect(dialog.get_by_label("Vorname")).to_have_value("Zoë")
    await expect(dialog.get_by_label("Nachname")).to_have_value("d’Arc")
    await expect(dialog.get_by_label("Anrede")).to_have_value("Frau")
    assert await page.evaluate("document.getElementById('invite-dialog').open")
    await portal.screenshot(page, "dialog validation error")
    assert await states(db) == []

    await dialog.get_by_label("E-Mail", exact=True).fill("zoe.darc@example.org")
    async with page.expect_response(lambda r: r.request.method == "POST" and r.status == 200) as created:
        await dialog.get_by_role("button", name="Einladen").click()

    await expect(page.locator("dialog")).to_have_count(0)
    row = page.locator("#people-rows tr", has_text="zoe.darc@example.org")
    await expect(row.locator(".badge").first).to_have_text("Eingeladen")
    await expect(row).to_contain_text("Frau Zoë d’Arc")
    await expect(page.locator("#live-status")).to_contain_text("Zoë d’Arc")
    await expect(page.get_by_role("link", name="Nutzer anlegen")).to_be_focused()
    assert await not_reloaded(page), "the page was reloaded"
    await expect(page.get_by_text("Keine Einträge gefunden.")).to_be_hidden()
    await live_rows_arrived(page, 1)  # the live feed reports the same invitation: still one row
    await expect(page.locator("#people-rows tr", has_text="zoe.darc@example.org")).to_have_count(1)
    # The live feed may also win the race against the POST answer; the answer's row
    # (added on top) then replaces the row already shown instead of doubling it.
    fragment = await (await created.value).text()
    await page.evaluate("html => htmx.swap('#dialog-slot', html, {swapStyle: 'none'})", fragment)
    await expect(page.locator("#people-rows tr", has_text="zoe.darc@example.org")).to_have_count(1)
    await portal.screenshot(page, "row added")
    assert await states(db) == ["invited"]
    admin.assert_no_problems(422)


async def test_the_live_row_arriving_before_the_answer_to_the_invitation_is_shown_once(portal, db):
    """The live feed may report a new person before the answer to "Nutzer anlegen" has added
    the row: the live row is placed on top (no out-of-band swap without a target), and the
    answer's row then replaces it. The answer is held back until the live row has arrived."""
    admin = await portal.admin()
    page = await open_table(admin)

    async def hold_answer_until_live_row(route):
        if route.request.method != "POST":
            await route.continue_()
            return
        answer = await route.fetch()
        await live_rows_arrived(page, 1)
        await route.fulfill(response=answer)

    await page.route(lambda url: url.endswith(TABLE.rstrip("/")) or url.endswith(TABLE), hold_answer_until_live_row)
    await page.get_by_role("link", name="Nutzer anlegen").click()
    dialog = page.get_by_role("dialog", name="Nutzer einladen")
    await dialog.get_by_label("Anrede").select_option("Frau")
    await dialog.get_by_label("Vorname").fill("Ida")
    await dialog.get_by_label("Nachname").fill("Früh")
    await dialog.get_by_label("E-Mail", exact=True).fill("ida.frueh@example.org")
    async with page.expect_response(lambda r: r.request.method == "POST" and r.status == 200):
        await dialog.get_by_role("button", name="Einladen").click()

    await expect(page.locator("dialog")).to_have_count(0)
    rows = page.locator("#people-rows tr", has_text="ida.frueh@example.org")
    await expect(rows).to_have_count(1)
    await expect(rows.locator(".badge").first).to_have_text("Eingeladen")
    assert await not_reloaded(page), "the page was reloaded"
    admin.assert_no_problems()


# -- 2. Live badges ----------------------------------------------------------------------


async def test_a_change_elsewhere_updates_the_badge_live_and_only_for_the_organisation(portal, db, factory, registry, clock, database_url):
    a = await portal.admin()
    b = await portal.admin(a.organisation_id)
    c = await portal.admin()
    revoked = await factory.invite(a.organisation_id, "widerruf@example.org")
    progressed = await factory.invite(a.organisation_id, "weiter@example.org")
    theirs = await factory.invite(c.organisation_id, "andere@example.org")

    page_a = await open_table(a)
    page_c = await open_table(c)
    await page_a.evaluate("document.getElementById('live-status').__sameNode = true")
    await page_a.locator("#filter-q").focus()
    await expect(row_of(page_a, revoked.id).locator(".badge")).to_have_text("Eingeladen")

    # B, another admin of the same organisation, revokes in their own browser.
    page_b = await b.page(TABLE)
    page_b.once("dialog", lambda confirm: asyncio.ensure_future(confirm.accept()))
    row_b = await open_actions(page_b, revoked.id)
    async with page_b.expect_response(lambda r: f"/{revoked.id}/revoke" in r.url) as done:
        await row_b.get_by_role("button", name=re.compile("Einladung widerrufen")).click()
    assert (await done.value).status == 200
    await expect(row_of(page_b, revoked.id).locator(".badge")).to_have_text("Widerrufen")

    # How fast it arrives is measured in docs/benchmarks-nutzerverwaltung.md, not asserted here.
    await expect(row_of(page_a, revoked.id).locator(".badge").first).to_have_text("Widerrufen")
    live = page_a.locator("#live-status")
    await expect(live).to_have_text("Status von Bernhard Tester: Widerrufen")
    await expect(live).to_have_attribute("role", "status")
    await expect(live).to_have_attribute("aria-live", "polite")
    assert await page_a.evaluate("document.getElementById('live-status').__sameNode === true"), (
        "the live region was replaced instead of updated: screen readers announce changes of a region "
        "that already exists, not a newly inserted one"
    )
    await expect(page_a.locator("#filter-q")).to_be_focused()
    assert await not_reloaded(page_a)
    await portal.screenshot(page_a, "A sees the revocation")

    # A change made by another process (its own database handle), no browser involved.
    other_process = Database(database_url)
    await other_process.start(pool_size=2)
    try:
        await FlowService(other_process, registry, clock).send(
            progressed.id, "complete_profile", data={"first_name": "Wera", "last_name": "Weiter"}
        )
    finally:
        await other_process.close()
    await expect(row_of(page_a, progressed.id).locator(".badge").first).to_have_text("beantragt")
    await expect(page_a.locator("#live-status")).to_contain_text(": beantragt")
    await expect(page_a.locator("#filter-q")).to_be_focused()
    assert await not_reloaded(page_a)

    # C, of another organisation, got neither row. A later change of C's own reaches C
    # after anything the feed handed out before it, so once it is shown, neither can come.
    await FlowService(db, registry, clock).send(theirs.id, "remind_inactive")
    await live_rows_arrived(page_c, 1)
    await expect(page_c.locator("#live-status")).to_have_text("Status von Bernhard Tester: Eingeladen")
    assert await page_c.evaluate("window.__liveRows") == 1
    await expect(row_of(page_c, revoked.id)).to_have_count(0)
    await expect(row_of(page_c, progressed.id)).to_have_count(0)
    await expect(page_c.locator("#people-rows")).not_to_contain_text("widerruf@example.org")
    await expect(row_of(page_c, theirs.id).locator(".badge").first).to_have_text("Eingeladen")
    await portal.screenshot(page_c, "C unchanged")
    for admin in (a, b, c):
        admin.assert_no_problems()


# -- 3. Keyboard only ----------------------------------------------------------------


async def test_invite_with_the_keyboard_alone(portal, db):
    admin = await portal.admin()
    page = await open_table(admin)
    opener = page.get_by_role("link", name="Nutzer anlegen")

    # Skip link, brand, the language switch (one link per language), Abmelden, then the page.
    for _ in range(10):
        await page.keyboard.press("Tab")
        outline = await focus_outline(page)
        assert outline["style"] != "none" and outline["width"] >= 2, (
            f"no visible focus indicator on {await active_element(page)}: {outline}"
        )
        if await opener.evaluate("e => e === document.activeElement"):
            break
    else:
        raise AssertionError(f"ten Tabs did not reach 'Nutzer anlegen' (focus on {await active_element(page)})")
    await portal.screenshot(page, "keyboard focus on Nutzer anlegen")

    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Nutzer einladen")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_label("Anrede")).to_be_focused()
    await page.keyboard.press("ArrowDown")  # "Bitte wählen" -> "Frau"
    await expect(dialog.get_by_label("Anrede")).to_have_value("Frau")
    await page.keyboard.press("Tab")
    await expect(dialog.get_by_label("Vorname")).to_be_focused()
    assert (await focus_outline(page))["width"] >= 2
    await page.keyboard.type("Jean-Luc")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Picard")
    await page.keyboard.press("Tab")
    await expect(dialog.get_by_label("E-Mail", exact=True)).to_be_focused()
    await page.keyboard.type("jl.picard@example.fr")
    await portal.screenshot(page, "keyboard form filled")
    await page.keyboard.press("Enter")

    await expect(page.locator("dialog")).to_have_count(0)
    await expect(page.locator("#people-rows tr", has_text="jl.picard@example.fr").locator(".badge").first).to_have_text("Eingeladen")
    await expect(opener).to_be_focused()
    assert await states(db) == ["invited"]

    # Escape closes the dialog again, nothing is sent, and focus is back on the opener.
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    await page.keyboard.type("Frau")
    await page.keyboard.press("Escape")
    await expect(page.locator("dialog")).to_have_count(0)
    await expect(opener).to_be_focused()
    assert (await focus_outline(page))["width"] >= 2
    assert await states(db) == ["invited"]
    assert await not_reloaded(page)
    await portal.screenshot(page, "keyboard dialog closed")
    admin.assert_no_problems()


# -- 4. axe-core and 320 px ------------------------------------------------------------


async def test_axe_finds_no_violations_and_nothing_scrolls_sideways_at_320_px(portal, factory, service):
    organisation_id = await factory.organisation()
    person = await factory.invite(organisation_id, "a.long.address.for.reflow@example-pflegedienst.de")
    await service.send(person.id, "resend", actor="admin@test")
    await factory.invite(organisation_id)

    for width in (1280, 320):
        admin = await portal.admin(organisation_id, viewport={"width": width, "height": 800})
        page = await admin.page(TABLE)

        async def check(where: str) -> None:
            await assert_no_axe_violations(page, f"{where} at {width} px")
            if width == 320:
                overflow = await horizontal_overflow(page)
                assert overflow is None, f"{where} scrolls sideways at 320 px: {overflow}"
            await portal.screenshot(page, f"{where} {width}")

        await check("the table page")
        await page.get_by_role("link", name="Nutzer anlegen").click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        await check("the open dialog")
        await page.get_by_role("dialog").get_by_role("button", name="Einladen").click()
        await expect(page.locator("#first_name-error")).to_be_visible()
        await check("the dialog with errors")
        await page.keyboard.press("Escape")

        await page.goto(f"/nutzerverwaltung/{person.id}")
        await check("the detail page")
        await page.goto("/nutzerverwaltung/neu")
        await check("the invite page without dialog")
        await page.goto("/nutzerverwaltung/ablauf")
        await check("the flow page")
        admin.assert_no_problems(422, ignore="ablauf.svg")  # Graphviz may be missing locally
        await admin.context.close()


# -- 5. Without JavaScript ----------------------------------------------------------


async def test_without_javascript_the_invitation_works_through_the_form_page(portal, db):
    admin = await portal.admin(java_script_enabled=False)
    page = await admin.page(TABLE)
    await page.get_by_role("link", name="Nutzer anlegen").click()
    await expect(page).to_have_url(re.compile(r"/nutzerverwaltung/neu$"))
    await expect(page.get_by_role("heading", name="Nutzer einladen")).to_be_visible()

    await page.get_by_label("Anrede").select_option("Herr")
    await page.get_by_label("Vorname").fill("Łukasz")
    await page.get_by_label("Nachname").fill("R2-D2")
    await page.get_by_label("E-Mail", exact=True).fill("l.kowalski@example.pl")
    await page.get_by_role("button", name="Einladen").click()
    await expect(page.locator("#last_name-error")).to_contain_text("nur Buchstaben")
    await expect(page.get_by_label("Vorname")).to_have_value("Łukasz")
    await expect(page.get_by_label("E-Mail", exact=True)).to_have_value("l.kowalski@example.pl")
    await portal.screenshot(page, "no js validation error")

    await page.get_by_label("Nachname").fill("Kowalski")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Einladen").click()
    await expect(page).to_have_url(re.compile(r"/nutzerverwaltung/?$"))
    row = page.locator("#people-rows tr", has_text="l.kowalski@example.pl")
    await expect(row.locator(".badge").first).to_have_text("Eingeladen")
    await expect(row).to_contain_text("Herr Łukasz Kowalski")
    await portal.screenshot(page, "no js row shown")
    assert await states(db) == ["invited"]

    # The row's "Aktionen" leads to the detail page, which holds the same actions as forms.
    await row.get_by_role("link", name=re.compile("^Aktionen")).click()
    await expect(page).to_have_url(re.compile(r"/nutzerverwaltung/\d+#aktionen$"))
    actions = page.locator("ul.inline-actions")
    await expect(actions.get_by_role("button")).to_have_text(["Einladung erneut senden", "Einladung widerrufen", "Löschen"])
    # A row action that asks first: a confirmation page instead of the browser's dialog.
    await actions.get_by_role("button", name="Einladung widerrufen").click()
    await expect(page.get_by_role("heading", name="Einladung widerrufen")).to_be_visible()
    await expect(page.get_by_text("wirklich widerrufen")).to_be_visible()
    await portal.screenshot(page, "no js confirmation")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Einladung widerrufen").click()
    await expect(row.locator(".badge").first).to_have_text("Widerrufen")
    assert await states(db) == ["revoked"]
    admin.assert_no_problems(422)


# Paths (events from "invited") to every state in which the flow offers admins actions.
PREPARED_STATES = [[], ["complete_profile"], ["complete_profile", "activate_device"], ["complete_profile", "lock"],
                   ["expire"], ["revoke"]]


async def test_without_javascript_every_row_action_works_through_the_detail_page(portal, db, service, registry):
    """The table's rows carry no forms; without JavaScript "Aktionen" opens the detail page,
    whose forms (with a confirmation page where the flow asks first) run each action."""
    admin = await portal.admin(java_script_enabled=False)
    flow = registry.onboarding()
    page = await admin.page(TABLE)
    ran = []

    async def prepared(events: list[str]):
        record = await portal.factory.invite(admin.organisation_id, f"person{len(ran)}-{len(events)}@example.org")
        for event in events:
            data = {"first_name": "Wera", "last_name": "Weiter"} if event == "complete_profile" else None
            await service.send(record.id, event, actor="admin@test", data=data)
        return record

    for events in PREPARED_STATES:
        probe = await prepared(events)
        state = (await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == probe.id)))["state"]
        for number, transition in enumerate(flow.transitions_for(state, "admin")):
            record = probe if number == 0 else await prepared(events)
            await page.goto(TABLE)
            await row_of(page, record.id).get_by_role("link", name=re.compile("^Aktionen")).click()
            await expect(page).to_have_url(re.compile(rf"/nutzerverwaltung/{record.id}#aktionen$"))
            await page.locator("ul.inline-actions").get_by_role("button", name=transition.label, exact=True).click()
            if transition.confirm:
                await expect(page.get_by_role("heading", name=transition.label)).to_be_visible()
                await expect(page.get_by_text(transition.confirm)).to_be_visible()
                await page.locator("main form").get_by_role("button", name=transition.label, exact=True).click()
            await expect(page).to_have_url(re.compile(r"/nutzerverwaltung/?$"))
            row = await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == record.id))
            assert row["state"] == transition.target, (state, transition.event)
            ran.append(transition.event)
    # every admin move of a person who exists (inviting starts from the initial state)
    states_of = flow.definition.states
    offered = {t.event for t in flow.definition.transitions
               if t.trigger == "admin" and not all(states_of[s].initial for s in t.sources)}
    assert offered <= set(ran), offered - set(ran)
    admin.assert_no_problems()


async def test_aktionen_loads_the_rows_actions_and_runs_one_after_the_confirmation(portal, db):
    """With JavaScript: the row holds only "Aktionen"; a click loads that row's actions in place
    (focus on the first), and a confirmed action swaps in the row with its new badge."""
    admin = await portal.admin()
    record = await portal.factory.invite(admin.organisation_id, "mit.js@example.org")
    page = await open_table(admin)
    row = row_of(page, record.id)
    await expect(row.locator("form")).to_have_count(0)
    await open_actions(page, record.id)
    await expect(row.get_by_role("button")).to_have_count(3)
    await expect(row.get_by_role("button").first).to_be_focused()
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await row.get_by_role("button", name=re.compile("Einladung widerrufen")).click()
    await expect(row.locator(".badge").first).to_have_text("Widerrufen")
    assert await not_reloaded(page)
    assert await states(db) == ["revoked"]
    admin.assert_no_problems()
