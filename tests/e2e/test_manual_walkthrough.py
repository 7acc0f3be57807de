"""The manual ("Nutzerverwaltung – Nutzer anlegen", sections 1-5) walked from start to end
in real Chromium, as the people in it would: an admin invites a colleague, the
invitation travels through the outbox to a real SMTP server, the colleague registers on
a phone, activates the Zwei-Faktor-App on another phone, logs in by typing the number the
portal shows into the app, gives consent and reads a message in the Postfach. The admin's table follows
along live.

Every step is asserted and photographed: into pytest's tmp dir, or into
PARTNERPORTAL_SCREENSHOT_DIR when set (scripts/walkthrough_screenshots.py sets it to
docs/screenshots for docs/walkthrough.md). All waits are bounded Playwright expects.

It runs three times: in German on the shipped flow file, in German on a copy in which
every state id, event id and the flow's name are renamed (labels, roles and structure
kept), chosen through PARTNERPORTAL_FLOWS_DIR and PARTNERPORTAL_ONBOARDING_FLOW (the
portal must not know any id of the flow), and in English on the shipped flow: every
browser asks for English (Accept-Language), the admin invites in English, and the same
steps are taken by their English labels (tests/support/languages.py)."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

import tests.support.server as server
from db import postfach
from db.tables import Account, FlowInstance
from jobs.outbox import dispatch_due_mail
from partnerportal.demo import DEMO_MESSAGES, with_demo_brand
from core.signing import Signer
from tests.support.browser import PageProblems
from tests.support.flow_copies import renamed, shipped_data, write
from core.i18n import NATIVE_NAMES
from tests.support.languages import BROWSER_LOCALES, labels
from tests.support.smtp import SmtpServer, link_in, parts
from workflows.registry import FlowRegistry

SCREENSHOT_DIR = "PARTNERPORTAL_SCREENSHOT_DIR"
DESK = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
# The app shows times in the phone's own zone; the portal shows German time.
PHONE_OPTIONS = {"viewport": PHONE, "is_mobile": True, "has_touch": True, "timezone_id": "Europe/Berlin"}
WAIT = 10_000  # ms: the portal polls every 2 s, the app every 2.5 s, the live table every 0.5 s
ORGANISATION = "Pflegedienst Sonnenschein"
EMAIL = "b.tester@abc.de"
PIN = "472913"


@pytest.fixture
def app_port(monkeypatch) -> int:
    """The port the app will listen on, known before it starts: the portal's own address
    (settings.base_url) then is the real one, in the invitation mail and on the pages."""
    port = server.free_port()
    monkeypatch.setattr(server, "free_port", lambda: port)
    return port


@pytest.fixture(params=[("de", "shipped"), ("de", "renamed"), ("en", "shipped")], ids=lambda p: "-".join(p))
def variant(request) -> tuple[str, str]:
    """(language, flow file) of one walk through the manual."""
    return request.param


@pytest.fixture
def language(variant) -> str:
    return variant[0]


@pytest.fixture
def flow_copy(variant, tmp_path) -> Path | None:
    """None for the shipped flow file, else a folder holding the renamed copy."""
    if variant[1] == "shipped":
        return None
    data, _ = renamed(shipped_data(), flow_name="aufnahme")
    return write(tmp_path / "flows", data)


@pytest.fixture
def settings(settings, app_port, flow_copy):
    """The demo as `partnerportal demo` serves it: in the fictitious insurer's brand."""
    settings = with_demo_brand(replace(settings, base_url=f"http://{server.HOST}:{app_port}"))
    if flow_copy is not None:
        settings = replace(settings, flows_dir=str(flow_copy.parent), onboarding_flow=flow_copy.stem)
    return settings


@pytest.fixture
def registry(settings) -> FlowRegistry:
    """The flows the portal under test runs (the test's own database work uses them too)."""
    return FlowRegistry.from_directory(settings.flows_dir or None, settings.onboarding_flow)


def heading(page, name: str):
    return page.get_by_role("heading", name=name, exact=True)


def badge(page, email: str):
    return page.locator("#people-rows tr", has_text=email).locator(".badge").first


async def test_the_manual_from_invitation_to_the_first_message(portal, db, clock, settings, registry, flow_copy, language):
    say = labels(language)
    locale = BROWSER_LOCALES[language]
    assert registry.onboarding().name == ("onboarding" if flow_copy is None else "aufnahme")
    if os.environ.get(SCREENSHOT_DIR) and flow_copy is None and language == "de":
        portal.screenshot_dir = Path(os.environ[SCREENSHOT_DIR])
        portal.screenshot_dir.mkdir(parents=True, exist_ok=True)
    organisation_id = await portal.factory.organisation(ORGANISATION)
    for subject, body in DEMO_MESSAGES[:2]:
        await db.write([postfach.deliver_step(organisation_id, "Krankenkasse – Bereich Finanzen", subject, body, clock.now())])

    # -- 1. Öffnen der Nutzerverwaltung --------------------------------------------------
    admin = await portal.admin(organisation_id, viewport=DESK, locale=locale)
    await db.write([Account.update({Account.first_name: "Berta", Account.last_name: "Apoll"})
                    .where(Account.id == admin.account_id)])
    desk = await admin.page("/")
    if language != "de":
        # The admin's profile says German; the switch on every page names each language in itself.
        await desk.get_by_role("navigation", name="Sprache").get_by_role("link", name=NATIVE_NAMES[language]).click()
        await expect(desk.locator("html")).to_have_attribute("lang", language)
    await expect(heading(desk, say("Herzlich Willkommen, Berta Apoll."))).to_be_visible()
    await expect(desk.locator("main").get_by_role("link", name=say("Postfach"))).to_be_visible()
    await portal.screenshot(desk, "admin start page")
    async with desk.expect_response(lambda r: r.url.endswith("/nutzerverwaltung/live")) as live:
        await desk.locator("main").get_by_role("link", name=say("Nutzerverwaltung")).click()
    assert (await live.value).status == 200
    await expect(heading(desk, say("Nutzerverwaltung"))).to_be_visible()
    await expect(desk.get_by_text(say("Keine Einträge gefunden."))).to_be_visible()
    await desk.evaluate("window.__notReloaded = true")
    await portal.screenshot(desk, "Nutzerverwaltung empty")

    # -- 2. Nutzer anlegen ------------------------------------------------------------------
    await desk.get_by_role("link", name=say("Nutzer anlegen")).click()
    dialog = desk.get_by_role("dialog", name=say("Nutzer einladen"))
    await expect(dialog).to_be_visible()
    await dialog.get_by_label(say("Anrede")).select_option("Herr")
    await dialog.get_by_label(say("Vorname")).fill("Bernhard")
    await dialog.get_by_label(say("Nachname")).fill("Tester")
    await dialog.get_by_label(say("E-Mail"), exact=True).fill(EMAIL)
    await dialog.get_by_label(say("Sprache der Einladung")).select_option(language)
    await portal.screenshot(desk, "Nutzer einladen dialog filled")
    await dialog.get_by_role("button", name=say("Einladen")).click()
    await expect(desk.locator("dialog")).to_have_count(0)
    row = desk.locator("#people-rows tr", has_text=EMAIL)
    await expect(row).to_contain_text(say("Herr Bernhard Tester"))
    await expect(badge(desk, EMAIL)).to_have_text(say("Eingeladen"))
    await portal.screenshot(desk, "invited row Eingeladen")

    # -- 3. Registrierung Nutzer: the mail, through the outbox, to a real SMTP server --------
    async with SmtpServer() as smtp:
        result = await dispatch_due_mail(db, smtp.settings_for(settings), clock, registry, Signer(settings.secret_key))
        assert result.sent == 1, result
        assert [envelope[1] for envelope in smtp.envelopes] == [[EMAIL]]
        mail = smtp.messages[0]
    link = link_in(mail)
    assert link.startswith(f"{portal.base_url}/einladung/"), link
    text, html = parts(mail)
    assert say("720 Stunden") in text and ORGANISATION in text
    assert say("Registrierung fortsetzen") in text

    invitee_context = await portal.anonymous(**PHONE_OPTIONS, locale=locale)
    invitee = await invitee_context.new_page()
    invitee_problems = PageProblems(invitee)
    # The mail as a mail program shows it; its button is the link.
    await invitee.set_content(html)
    await expect(invitee.get_by_text(say("720 Stunden"))).to_be_visible()
    await portal.screenshot(invitee, "invitation mail")
    await invitee.get_by_role("link", name=say("Registrierung fortsetzen")).click()
    await expect(invitee).to_have_url(link)
    await expect(invitee.get_by_role("button", name=say("Registrierung fortsetzen"))).to_be_visible()
    await portal.screenshot(invitee, "invitation page")
    await invitee.get_by_role("button", name=say("Registrierung fortsetzen")).click()

    await expect(heading(invitee, say("Persönliche Daten"))).to_be_visible()
    assert "/einladung/" not in invitee.url, "the token stays in the address bar"
    await expect(invitee.locator("#email-value")).to_have_text(EMAIL)
    await expect(invitee.get_by_label(say("Vorname"))).to_have_value("Bernhard")
    await expect(invitee.get_by_label(say("Nachname"))).to_have_value("Tester")
    await invitee.get_by_label(say("Anrede")).select_option("Herr")
    await invitee.get_by_label(say("Telefonnummer (freiwillig)")).fill("0911 123456")
    await portal.screenshot(invitee, "Persoenliche Daten")
    await invitee.get_by_role("button", name=say("Speichern und weiter")).click()

    # The admin's table follows without a reload: the person is now "beantragt".
    await expect(badge(desk, EMAIL)).to_have_text(say("beantragt"), timeout=WAIT)
    await portal.screenshot(desk, "admin sees beantragt")

    # -- 4. Geräteregistrierung -------------------------------------------------------------
    await expect(heading(invitee, say("Geräteregistrierung"))).to_be_visible()
    await portal.screenshot(invitee, "Geraeteregistrierung")
    await invitee.locator("main").get_by_role("link", name=say("Weiter")).click()
    await expect(heading(invitee, say("Zwei-Faktor-App einrichten"))).to_be_visible()
    app_address = (await invitee.locator("main a[href$='/app'], main a[href$='/app/']").inner_text()).strip()
    assert app_address.startswith(f"{portal.base_url}/app"), app_address
    await portal.screenshot(invitee, "app download")
    await invitee.locator("main").get_by_role("link", name=say("Weiter")).click()
    await expect(heading(invitee, say("Gerät aktivieren"))).to_be_visible()
    await invitee.get_by_role("button", name=say("Aktivierungscode anzeigen")).click()
    code = (await invitee.locator("#activation-code").inner_text()).strip()
    assert re.fullmatch(r"\d{4} \d{4}", code), code
    await expect(invitee.locator("#activation-username")).to_have_text(EMAIL)
    await portal.screenshot(invitee, "Aktivierungscode")

    # The Zwei-Faktor-App on a phone of its own, at the address the portal named. The
    # phone's clock agrees with the server's frozen one (signed requests carry the time).
    phone_context = await portal.anonymous(**PHONE_OPTIONS, locale=locale)
    await phone_context.clock.set_fixed_time(clock.now())
    phone = await phone_context.new_page()
    phone_problems = PageProblems(phone)
    await phone.goto(app_address)
    await expect(heading(phone, say("Nutzungsbedingungen"))).to_be_visible()
    await portal.screenshot(phone, "app step 1 Nutzungsbedingungen")
    await phone.get_by_label(say("Ich habe die Nutzungsbedingungen gelesen und akzeptiere diese.")).check()
    await phone.get_by_role("button", name=say("Akzeptieren")).click()
    await expect(heading(phone, say("Zugangsdaten eingeben"))).to_be_visible()
    await phone.get_by_label(say("Benutzername / E-Mail Adresse")).fill(EMAIL)
    await phone.get_by_label(say("Aktivierungscode")).fill(code)
    await portal.screenshot(phone, "app step 2 Zugangsdaten")
    await phone.get_by_role("button", name=say("Weiter")).click()
    await expect(heading(phone, say("PIN-Code festlegen"))).to_be_visible()
    await phone.get_by_label(say("PIN-Code (6 Ziffern)")).fill(PIN)
    await phone.get_by_label(say("PIN-Code wiederholen")).fill(PIN)
    await portal.screenshot(phone, "app step 3 PIN-Code")
    await phone.get_by_role("button", name=say("Aktivieren")).click()
    await expect(heading(phone, say("Gerät aktiviert"))).to_be_visible(timeout=WAIT)
    await expect(phone.get_by_role("status")).to_have_text(say("Gerät aktiviert."))
    await portal.screenshot(phone, "app Geraet aktiviert")

    # The portal page moves on by itself.
    await expect(heading(invitee, say("Glückwunsch"))).to_be_visible(timeout=WAIT)
    await expect(invitee.get_by_role("status")).to_contain_text(say("Ihre Registrierung ist abgeschlossen"))
    await portal.screenshot(invitee, "Glueckwunsch")

    # -- 5. Abschluss: the admin's still open table, never reloaded -------------------------
    await expect(badge(desk, EMAIL)).to_have_text(say("Erfolgreich abgeschlossen"), timeout=WAIT)
    await expect(desk.locator("#people-rows")).not_to_contain_text(say("beantragt"))
    await expect(desk.locator("#live-status")).to_contain_text(say("Erfolgreich abgeschlossen"))
    assert await desk.evaluate("window.__notReloaded === true"), "the admin's table was reloaded"
    await portal.screenshot(desk, "admin sees Erfolgreich abgeschlossen")

    # The first login: e-mail address in the portal, the number confirmed in the app.
    await invitee.get_by_role("link", name=say("Jetzt einloggen")).click()
    await expect(heading(invitee, say("Anmelden"))).to_be_visible()
    await invitee.get_by_label(say("Benutzername oder E-Mail-Adresse")).fill(EMAIL)
    await portal.screenshot(invitee, "login")
    await invitee.get_by_role("button", name=say("Weiter")).click()
    number_shown = invitee.locator("#login-number")
    await expect(number_shown).to_have_text(re.compile(r"^\s*\d{3} \d{3}\s*$"))
    number = (await number_shown.inner_text()).strip()
    await portal.screenshot(invitee, "login number")

    await phone.get_by_role("button", name=say("Weiter")).click()
    await expect(heading(phone, say("App entsperren"))).to_be_visible()
    await phone.get_by_label(say("PIN-Code"), exact=True).fill(PIN)
    await portal.screenshot(phone, "app entsperren")
    await phone.get_by_role("button", name=say("Entsperren")).click()
    await expect(heading(phone, say("Anmeldungen"))).to_be_visible()
    request = phone.locator("#request-list .request")
    await expect(request).to_have_count(1, timeout=WAIT)
    # The person types the number from the browser into the app (PIN-6).
    await request.get_by_label(say("Zahl von der Anmeldeseite")).fill(number)
    await portal.screenshot(phone, "app Anmeldung mit eingegebener Zahl")
    await request.get_by_role("button", name=say("Bestätigen")).click()
    await expect(phone.get_by_role("status")).to_have_text(say("Anmeldung bestätigt. Sie können im Portal weiterarbeiten."))
    await expect(request).to_have_count(0)

    # Consent at the first login: two separate, unticked choices.
    await expect(heading(invitee, say("Einwilligung in die Datenverarbeitung"))).to_be_visible(timeout=WAIT)
    choices = invitee.locator("main form input[type=checkbox]")
    await expect(choices).to_have_count(2)
    for i in range(2):
        await expect(choices.nth(i)).not_to_be_checked()
    await portal.screenshot(invitee, "Einwilligung")
    await invitee.get_by_label(re.compile(say("Ich willige in die Verarbeitung"))).check()
    await invitee.get_by_label(re.compile(say("Teilnahme- und Nutzungsbedingungen gelesen"))).check()
    await invitee.get_by_role("button", name=say("Akzeptieren")).click()

    await expect(heading(invitee, say("Herzlich Willkommen, Bernhard Tester."))).to_be_visible()
    await expect(invitee.locator("main").get_by_role("link", name=say("Nutzerverwaltung"))).to_have_count(0)
    await portal.screenshot(invitee, "invitee start page")
    await invitee.locator("main").get_by_role("link", name=say("Postfach")).click()
    await expect(heading(invitee, say("Postfach"))).to_be_visible()
    subject, body = DEMO_MESSAGES[0]
    message_button = invitee.get_by_role("button", name=re.compile(re.escape(subject)))
    await expect(message_button).to_contain_text(say("Ungelesen"))
    await portal.screenshot(invitee, say("Postfach"))
    await message_button.click()
    await expect(heading(invitee, subject)).to_be_visible()
    await expect(invitee.locator(".message-body")).to_contain_text("12.480,50 EUR")
    await portal.screenshot(invitee, "Postfach message")
    await invitee.get_by_role("link", name=say("Zurück zum Postfach")).click()
    await expect(invitee.get_by_role("button", name=re.compile(re.escape(subject)))).not_to_contain_text(say("Ungelesen"))

    # The table ends where the manual ends: the consent and the flow's automatic step
    # after it made the person "Aktiv". Nothing went wrong in any of the browsers.
    await expect(badge(desk, EMAIL)).to_have_text(say("Aktiv"), timeout=WAIT)
    assert await desk.evaluate("window.__notReloaded === true")
    admin.assert_no_problems()
    assert not invitee_problems.unexpected(), str(invitee_problems)
    assert not phone_problems.unexpected(), str(phone_problems)
    assert urlsplit(invitee.url).path == "/postfach"
    # It ran on the flow the settings chose, ids and all.
    instance = await db.fetch_one(
        FlowInstance.select(FlowInstance.flow_name, FlowInstance.state)
        .where(FlowInstance.account.email == EMAIL)
    )
    assert instance["flow_name"] == settings.onboarding_flow
    assert registry.onboarding().label(instance["state"]) == "Aktiv"
    if flow_copy is not None:
        assert instance["state"].startswith("zustand")
