"""The Zwei-Faktor-App in real Chromium, next to the portal: a person registers in one
browser, activates the app in a second one (a phone, sharing nothing with the first),
and logs in by typing the number shown in the portal into the app. Also: a wrong PIN, a locked
device and "App zurücksetzen", axe-core on every screen, no sideways scrolling at
320 px, and the app shell cached by its service worker.

The server runs on the test's frozen clock; the phone's clock is set to the same time,
since the server refuses signed requests from a device whose clock is far off."""

from __future__ import annotations

import itertools
import random
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

from db import links
from core.crypto import is_trivial_pin
from core.signing import Signer
from tests.support.browser import PageProblems, assert_no_axe_violations, horizontal_overflow
from tests.support.environment import chromium_path, require

PIN = "472913"
WRONG_PIN = "813570"
EMAIL = "b.tester@abc.de"
PHONE = {"width": 390, "height": 844}
NARROW = {"width": 320, "height": 640}
WAIT = 10_000  # ms: the portal and the app poll every 2-2.5 s


@pytest.fixture(autouse=True)
def needs_chromium():
    require(chromium_path() is not None, "Chromium")


# -- the portal side ------------------------------------------------------------------


async def invitation_link(db, clock, settings, instance_id: int) -> str:
    token = links.new_token()
    now = clock.now()
    await db.write([links.issue_step(instance_id, token, now, now + timedelta(hours=720))])
    return f"/einladung/{Signer(settings.secret_key).sign('invitation-link', token)}"


async def registration_at_activation(portal, settings, email: str = EMAIL):
    """A desktop browser of an invited person, on the activation step with a code shown."""
    record = await portal.factory.invite(email=email)
    link = await invitation_link(portal.db, portal.clock, settings, record.id)
    desktop = await portal.anonymous()
    page = await desktop.new_page()
    await page.goto(link)
    await page.get_by_role("button", name="Registrierung fortsetzen").click()
    await page.get_by_label("Anrede").select_option("Herr")
    await page.get_by_label("Vorname").fill("Bernhard")
    await page.get_by_label("Nachname").fill("Tester")
    await page.get_by_role("button", name="Speichern und weiter").click()
    await page.get_by_role("link", name="Weiter").click()
    app_link = page.locator("main a[href$='/app'], main a[href$='/app/']").first
    await expect(app_link).to_be_visible()
    await page.get_by_role("link", name="Weiter").click()
    await page.get_by_role("button", name="Aktivierungscode anzeigen").click()
    code = (await page.locator("#activation-code").inner_text()).strip()
    assert re.fullmatch(r"\d{4} \d{4}", code), code
    return page, code


async def start_login(page, email: str = EMAIL) -> str:
    """Starts a login in the portal page; returns the number it shows ("482 913")."""
    await page.get_by_label("Benutzername oder E-Mail-Adresse").fill(email)
    await page.get_by_role("button", name="Weiter").click()
    number = page.locator("#login-number")
    await expect(number).to_have_text(re.compile(r"^\s*\d{3} \d{3}\s*$"))
    return (await number.inner_text()).strip()


# -- the phone --------------------------------------------------------------------------


async def phone_app(portal, cookie: dict | None = None):
    """The app in a second, separate browser context sized like a phone (holding `cookie`,
    if given, as if the portal had been used in this browser too)."""
    context = await portal.anonymous(viewport=PHONE, is_mobile=True, has_touch=True)
    await context.clock.set_fixed_time(portal.clock.now())
    if cookie is not None:
        await context.add_cookies([{"domain": urlsplit(portal.base_url).hostname, "path": "/", **cookie}])
    page = await context.new_page()
    problems = PageProblems(page)
    await page.goto("/app/")
    return context, page, problems


async def check_screen(page, where: str, portal=None) -> None:
    """axe-core finds nothing, and at 320 px nothing scrolls sideways (screenshot if portal given)."""
    await assert_no_axe_violations(page, f"the app's screen {where!r}")
    await page.set_viewport_size(NARROW)
    try:
        if portal is not None:
            await portal.screenshot(page, f"app {where} 320px")
        overflow = await horizontal_overflow(page)
        assert overflow is None, f"the app's screen {where!r} scrolls sideways at 320 px: {overflow}"
    finally:
        await page.set_viewport_size(PHONE)


def heading(page, name: str):
    return page.get_by_role("heading", name=name, exact=True)


def script_errors(problems: PageProblems) -> list[str]:
    """Uncaught errors and CSP refusals (failed API answers are expected in some tests)."""
    return [m for m in problems.messages if m.startswith("page error") or "Content Security Policy" in m]


async def stored_device(page) -> dict | None:
    return await page.evaluate(
        """async () => {
          const names = (await indexedDB.databases()).map(d => d.name);
          if (!names.includes("zwei-faktor-app")) return null;
          return await new Promise((resolve, reject) => {
            const open = indexedDB.open("zwei-faktor-app");
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
                const db = open.result;
                if (!db.objectStoreNames.contains("device")) { db.close(); resolve(null); return; }
                const get = db.transaction("device").objectStore("device").get("current");
                get.onsuccess = () => {
                    const d = get.result;
                    db.close();
                    resolve(d ? {keys: Object.keys(d).sort(), deviceId: d.deviceId, username: d.username,
                                 privateExtractable: d.keyPair.privateKey.extractable,
                                 privateType: d.keyPair.privateKey.type,
                                 algorithm: d.keyPair.privateKey.algorithm.namedCurve,
                                 text: JSON.stringify(d)} : null);
                };
            };
          });
        }"""
    )


async def activate(page, code: str, pin: str = PIN, portal=None) -> None:
    """The three activation steps, by keyboard where a person would type; with portal,
    also the refusals of wrong input and the checks of every screen (with screenshots)."""
    check = portal is not None
    await expect(heading(page, "Nutzungsbedingungen")).to_be_visible()
    if check:
        await check_screen(page, "Nutzungsbedingungen", portal)
        await page.get_by_role("button", name="Akzeptieren").click()
        error = page.locator("#terms-accepted-error")
        await expect(error).to_have_text("Bitte akzeptieren Sie die Nutzungsbedingungen der App.")
        await expect(page.get_by_label("Ich habe die Nutzungsbedingungen gelesen und akzeptiere diese.")).to_be_focused()
        await check_screen(page, "Nutzungsbedingungen mit Fehler", portal)
    await page.get_by_label("Ich habe die Nutzungsbedingungen gelesen und akzeptiere diese.").check()
    await page.get_by_role("button", name="Akzeptieren").click()

    await expect(heading(page, "Zugangsdaten eingeben")).to_be_focused()
    if check:
        await check_screen(page, "Zugangsdaten", portal)
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Benutzername / E-Mail Adresse")).to_be_focused()
    await page.keyboard.type(EMAIL)
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Aktivierungscode")).to_be_focused()
    if check:
        await page.keyboard.insert_text(code[:5])  # pasted, cut short
        await page.keyboard.press("Enter")
        await expect(page.locator("#code-error")).to_have_text(
            "Der Aktivierungscode besteht aus 8 Ziffern, zum Beispiel 2748 0323.")
        await expect(page.get_by_label("Aktivierungscode")).to_be_focused()
        await expect(page.get_by_label("Aktivierungscode")).to_have_attribute("aria-invalid", "true")
        await check_screen(page, "Zugangsdaten mit Fehler", portal)
        await page.get_by_label("Aktivierungscode").fill("")
    await page.keyboard.insert_text(code)  # as pasted from the portal, with its space
    await page.keyboard.press("Enter")

    await expect(heading(page, "PIN-Code festlegen")).to_be_focused()
    pin_field, repeat_field = page.get_by_label("PIN-Code (6 Ziffern)"), page.get_by_label("PIN-Code wiederholen")
    if check:
        await check_screen(page, "PIN-Code festlegen", portal)
        await pin_field.fill("123456")
        await repeat_field.fill("123456")
        await page.get_by_role("button", name="Aktivieren").click()
        await expect(page.locator("#pin-error")).to_have_text(
            "Dieser PIN-Code ist zu leicht zu erraten. Bitte wählen Sie einen anderen.")
        await expect(pin_field).to_be_focused()
        await repeat_field.fill(pin[::-1])
        await pin_field.fill(pin)
        await page.get_by_role("button", name="Aktivieren").click()
        await expect(page.locator("#pin-repeat-error")).to_have_text("Die beiden PIN-Eingaben stimmen nicht überein.")
        await check_screen(page, "PIN-Code festlegen mit Fehler", portal)
    await pin_field.fill(pin)
    await repeat_field.fill(pin)
    await page.get_by_role("button", name="Aktivieren").click()
    await expect(heading(page, "Gerät aktiviert")).to_be_visible(timeout=WAIT)
    await expect(page.get_by_role("status")).to_have_text("Gerät aktiviert.")


async def unlock(page, pin: str) -> None:
    await expect(heading(page, "App entsperren")).to_be_visible()
    await page.get_by_label("PIN-Code", exact=True).fill(pin)
    await page.get_by_role("button", name="Entsperren").click()
    await expect(heading(page, "Anmeldungen")).to_be_visible()


# -- tests --------------------------------------------------------------------------------


async def test_activate_the_app_then_log_in_by_confirming_the_number(portal, settings):
    desk, code = await registration_at_activation(portal, settings)
    probe = {"name": "portal_probe", "value": "must-not-travel"}
    phone, app, problems = await phone_app(portal, cookie=probe)
    api_calls = []
    app.on("request", lambda request: api_calls.append(request) if "/api/app/" in request.url else None)

    await activate(app, code, portal=portal)
    await check_screen(app, "Gerät aktiviert", portal)
    # The portal notices by itself (it polls) and moves on.
    await expect(heading(desk, "Glückwunsch")).to_be_visible(timeout=WAIT)

    device = await stored_device(app)
    assert device is not None
    assert device["keys"] == ["deviceId", "keyPair", "username"] and device["username"] == EMAIL
    assert device["privateType"] == "private" and device["privateExtractable"] is False
    assert device["algorithm"] == "P-256"
    assert PIN not in device["text"]
    assert await app.evaluate("localStorage.length + sessionStorage.length") == 0
    assert [c["name"] for c in await phone.cookies()] == ["portal_probe"], "the app got a cookie from the server"

    # The activation survives a restart of the app.
    await app.reload()
    await expect(heading(app, "App entsperren")).to_be_visible()
    await check_screen(app, "App entsperren", portal)

    await desk.get_by_role("link", name="Jetzt einloggen").click()
    number = await start_login(desk)

    # First a wrong PIN: the app asks again and says how many tries are left.
    await unlock(app, WRONG_PIN)
    request = app.locator("#request-list .request")
    await expect(request).to_have_count(1, timeout=WAIT)
    number_field = request.get_by_label("Zahl von der Anmeldeseite")
    # The app shows no number: the person types the one from the browser (PIN-6).
    await expect(number_field).to_have_attribute("inputmode", "numeric")
    await expect(request).not_to_contain_text(number)
    await number_field.fill(number)
    await request.get_by_role("button", name="Bestätigen").click()
    pin_field = app.get_by_label("PIN-Code", exact=True)
    await expect(app.locator("#unlock-pin-error")).to_have_text(f"Falscher PIN-Code. Noch {settings.pin_attempts - 1} Versuche.")
    await expect(pin_field).to_be_focused()
    await expect(pin_field).to_have_attribute("aria-invalid", "true")
    await check_screen(app, "App entsperren mit falschem PIN-Code", portal)

    await unlock(app, PIN)
    await expect(request).to_have_count(1, timeout=WAIT)
    await expect(request.locator(".request-origin")).to_contain_text("Chrome auf Linux, IP-Adresse 127.0.0.1")
    # Without the number nothing is sent: the message is next to the field.
    await request.get_by_label("Zahl von der Anmeldeseite").fill("")
    await request.get_by_role("button", name="Bestätigen").click()
    await expect(request.get_by_label("Zahl von der Anmeldeseite")).to_be_focused()
    await expect(request.locator(".field-error")).to_have_text(
        "Bitte geben Sie die 6 Ziffern ein, die Ihnen die Anmeldeseite im Browser zeigt.")
    await check_screen(app, "Anmeldungen", portal)
    await request.get_by_label("Zahl von der Anmeldeseite").fill(number)
    await request.get_by_role("button", name="Bestätigen").click()
    await expect(app.get_by_role("status")).to_have_text("Anmeldung bestätigt. Sie können im Portal weiterarbeiten.")
    await expect(request).to_have_count(0)

    # Logged in: the first login asks for consent, then the start page greets the person.
    await expect(heading(desk, "Einwilligung in die Datenverarbeitung")).to_be_visible(timeout=WAIT)
    choices = desk.locator("main form input[type=checkbox]")
    for i in range(await choices.count()):
        await choices.nth(i).check()
    await desk.get_by_role("button", name="Akzeptieren").click()
    await expect(heading(desk, "Herzlich Willkommen, Bernhard Tester.")).to_be_visible()
    await check_screen(app, "Anmeldungen, leer", portal)
    assert [c["name"] for c in await phone.cookies()] == ["portal_probe"]
    # Every call of the app went without cookies (credentials: "omit").
    assert {urlsplit(r.url).path.split("/")[3] for r in api_calls} >= {"activate", "requests"}
    for request in api_calls:
        assert "cookie" not in await request.all_headers(), request.url
    assert not script_errors(problems), str(problems)


async def test_pin6_a_wrong_number_ends_the_request_and_das_war_ich_nicht_is_reported(portal, settings):
    """PIN-6 in the browser: a wrong number ends the request in the app and on the portal's
    page; "Das war ich nicht" ends the next one; both are said in words, focus stays put."""
    desk, code = await registration_at_activation(portal, settings)
    _, app, problems = await phone_app(portal)
    await activate(app, code)
    await expect(heading(desk, "Glückwunsch")).to_be_visible(timeout=WAIT)
    await desk.get_by_role("link", name="Jetzt einloggen").click()
    number = await start_login(desk)
    await app.get_by_role("button", name="Weiter").click()
    await unlock(app, PIN)
    request = app.locator("#request-list .request")
    await expect(request).to_have_count(1, timeout=WAIT)
    wrong = f"{(int(number.replace(' ', '')) + 1) % 10**6:06d}"
    await request.get_by_label("Zahl von der Anmeldeseite").fill(wrong)
    await request.get_by_role("button", name="Bestätigen").click()
    await expect(app.get_by_role("status")).to_contain_text("Die Zahl stimmt nicht mit der Anmeldeseite überein.")
    await expect(request).to_have_count(0)
    await expect(desk.get_by_role("alert")).to_contain_text("andere Zahl", timeout=WAIT)

    await desk.get_by_role("link", name="Erneut anmelden").click()
    await start_login(desk)
    await expect(request).to_have_count(1, timeout=WAIT)
    await request.get_by_role("button", name="Das war ich nicht").click()
    await expect(app.get_by_role("status")).to_contain_text("Gemeldet: Das waren nicht Sie.")
    await expect(request).to_have_count(0)
    await check_screen(app, "Anmeldungen nach „Das war ich nicht“", portal)
    await expect(desk.get_by_role("alert")).to_contain_text("abgelehnt", timeout=WAIT)
    assert not script_errors(problems), str(problems)


async def test_five_wrong_pins_lock_the_device_and_the_app_can_be_reset(portal, settings):
    desk, code = await registration_at_activation(portal, settings)
    _, app, problems = await phone_app(portal)
    await activate(app, code)
    await expect(heading(desk, "Glückwunsch")).to_be_visible(timeout=WAIT)
    await desk.get_by_role("link", name="Jetzt einloggen").click()
    await start_login(desk)

    await app.get_by_role("button", name="Weiter").click()
    request = app.locator("#request-list .request")
    for attempt in range(1, settings.pin_attempts):
        await unlock(app, WRONG_PIN)
        await expect(request).to_have_count(1, timeout=WAIT)
        await request.get_by_role("button", name="Das war ich nicht").click()
        left = settings.pin_attempts - attempt  # the message counts in words when one is left (ngettext)
        await expect(app.locator("#unlock-pin-error")).to_have_text(
            "Falscher PIN-Code. Noch ein Versuch." if left == 1 else f"Falscher PIN-Code. Noch {left} Versuche.")
    await unlock(app, WRONG_PIN)
    await expect(request).to_have_count(1, timeout=WAIT)
    await request.get_by_role("button", name="Das war ich nicht").click()

    await expect(heading(app, "Gerät gesperrt")).to_be_focused()
    await expect(app.locator("#locked-message")).to_contain_text("gesperrt")
    await check_screen(app, "Gerät gesperrt", portal)

    # Opening the app again: it asks for the PIN, then the server says the device is locked.
    await app.reload()
    await app.get_by_label("PIN-Code", exact=True).fill(PIN)
    await app.get_by_role("button", name="Entsperren").click()
    await expect(heading(app, "Gerät gesperrt")).to_be_visible(timeout=WAIT)

    await app.get_by_role("button", name="App zurücksetzen").click()
    await expect(heading(app, "Nutzungsbedingungen")).to_be_focused()
    await expect(app.get_by_role("status")).to_have_text("Die App ist zurückgesetzt.")
    assert await stored_device(app) is None
    await app.reload()
    await expect(heading(app, "Nutzungsbedingungen")).to_be_visible()
    assert not script_errors(problems), str(problems)


async def test_resetting_asks_first_and_can_be_cancelled(portal, settings):
    desk, code = await registration_at_activation(portal, settings)
    _, app, problems = await phone_app(portal)
    await activate(app, code)
    await app.get_by_role("button", name="Weiter").click()
    await app.get_by_role("button", name="App zurücksetzen").click()
    await expect(heading(app, "App zurücksetzen?")).to_be_focused()
    await check_screen(app, "App zurücksetzen?", portal)
    await app.get_by_role("button", name="Abbrechen").click()
    await expect(heading(app, "App entsperren")).to_be_focused()
    assert await stored_device(app) is not None
    assert not script_errors(problems), str(problems)


async def test_the_app_shell_is_installable_and_cached_by_its_service_worker(portal):
    phone, app, problems = await phone_app(portal)
    await expect(heading(app, "Nutzungsbedingungen")).to_be_visible()
    manifest = await app.evaluate("document.querySelector('link[rel=manifest]').href")
    assert manifest.endswith("/app/manifest.webmanifest")
    scope = await app.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope.endswith("/app/")
    await app.wait_for_function("navigator.serviceWorker.controller !== null", timeout=WAIT)
    cached = await app.evaluate(
        """() => caches.keys().then(names => Promise.all(names.map(n => caches.open(n).then(c => c.keys()))))
                 .then(lists => lists.flat().map(r => new URL(r.url).pathname))"""
    )
    assert {"/app/", "/app/static/app.js", "/app/static/core.js", "/app/static/app.css"} <= set(cached)

    await phone.set_offline(True)
    try:
        await app.reload()
        await expect(heading(app, "Nutzungsbedingungen")).to_be_visible()
    finally:
        await phone.set_offline(False)
    assert await phone.cookies() == []
    assert not script_errors(problems), str(problems)


def pin_sample() -> list[str]:
    """PINs to compare the app's check with the server's: those made of two digits, all
    runs up and down, well-known ones, near misses, and a seeded random sample."""
    pins = {"".join(p) for a, b in itertools.combinations("0123456789", 2) for p in itertools.product(a + b, repeat=6)}
    runs = ["0123456789"[i:i + 6] for i in range(5)]
    pins |= set(runs) | {run[::-1] for run in runs}
    pins |= {"123123", "456456", "789789", "147258", "159753", "102030", "112233", "010203", "696969", "131313",
             "123457", "012346", "122333", "135792", "101010", "100000", "987650"}
    rng = random.Random(20260105)
    pins |= {f"{rng.randrange(1_000_000):06d}" for _ in range(20_000)}
    return sorted(pins)


async def test_the_app_refuses_the_same_trivial_pins_as_the_server(portal):
    _, app, _ = await phone_app(portal)
    await expect(heading(app, "Nutzungsbedingungen")).to_be_visible()
    sample = pin_sample()
    in_app = await app.evaluate("pins => pins.filter(pin => ZweiFaktorCore.isTrivialPin(pin))", sample)
    on_server = [pin for pin in sample if is_trivial_pin(pin)]
    assert len(on_server) > 2_800
    assert in_app == on_server
