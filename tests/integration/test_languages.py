"""Which language a page is served in: Accept-Language on the first visit, the
`pp_lang` cookie before it; `lang` on <html> follows (issue 14)."""

from __future__ import annotations

import dataclasses
import re
from html import unescape

import pytest

from core.signing import Signer
from db.tables import Account, FlowInstance
from jobs.outbox import dispatch_due_mail
from jobs.timers import fire_due_timers
from tests.conftest import TEST_SECRET
from tests.support.admin import AdminBrowser, login_session
from tests.support.app import running_app
from tests.support.invitee import Invitee, csrf_of
from tests.support.smtp import SmtpServer, parts
from web.auth import SESSION_COOKIE


def html_lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)">', html)
    assert match, "the page has no <html lang>"
    return match.group(1)


async def test_first_visit_follows_accept_language(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        english = await client.get("/hilfe", headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"})
        german = await client.get("/hilfe", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"})
        unknown = await client.get("/hilfe", headers={"Accept-Language": "fr-FR"})
    assert html_lang(english.text) == "en"
    assert html_lang(german.text) == "de"
    assert html_lang(unknown.text) == "de"


async def test_the_cookie_beats_accept_language(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        client.cookies.set("pp_lang", "de-x-ls")
        response = await client.get("/hilfe", headers={"Accept-Language": "en"})
    # Leichte Sprache: German for assistive technology, its own page (core/i18n.py HTML_LANG).
    assert html_lang(response.text) == "de" and 'class="leichte-sprache"' in response.text


async def test_error_pages_of_unknown_paths_follow_the_language_too(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        response = await client.get("/seite-gibt-es-nicht", headers={"Accept-Language": "en", "Accept": "text/html"})
    assert response.status_code == 404
    assert html_lang(response.text) == "en"


# -- the language switch ----------------------------------------------------------------


def switch_links(html: str) -> dict[str, tuple[str, str]]:
    """Language name -> (href, lang) of the header's switch."""
    nav = re.search(r'<nav class="language-switch".*?</nav>', html, re.S)
    assert nav, "the page has no language switch"
    return {name: (unescape(href), lang) for href, lang, name in
            re.findall(r'<a href="([^"]+)" lang="([^"]+)"[^>]*>([^<]+)</a>', nav.group(0))}


async def test_every_page_offers_each_language_named_in_itself(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        page = await client.get("/hilfe?x=1")
    assert switch_links(page.text) == {
        "Deutsch": ("/sprache/de?zurueck=/hilfe%3Fx%3D1", "de"),
        "English": ("/sprache/en?zurueck=/hilfe%3Fx%3D1", "en"),
        "Leichte Sprache": ("/sprache/de-x-ls?zurueck=/hilfe%3Fx%3D1", "de"),  # German (core/i18n.py HTML_LANG)
    }


async def test_only_the_configured_languages_are_offered(settings, db, clock):
    async with running_app(dataclasses.replace(settings, languages="de,en"), clock) as (_, client):
        page = await client.get("/hilfe")
        refused = await client.get("/sprache/de-x-ls?zurueck=/hilfe")
    assert set(switch_links(page.text)) == {"Deutsch", "English"}
    assert refused.status_code == 404


async def test_the_switch_sets_the_cookie_and_goes_back(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        switched = await client.get("/sprache/en?zurueck=/hilfe%3Fx%3D1")
        assert switched.status_code == 303 and switched.headers["location"] == "/hilfe?x=1"
        assert switched.cookies.get("pp_lang") == "en"
        page = await client.get("/hilfe", headers={"Accept-Language": "de"})
    assert html_lang(page.text) == "en"


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example", "https:/evil.example", "/sprache/en", "javascript:alert(1)",
])
async def test_the_switch_never_redirects_elsewhere(settings, db, clock, target):
    async with running_app(settings, clock) as (_, client):
        switched = await client.get("/sprache/en", params={"zurueck": target})
    assert switched.status_code == 303
    assert switched.headers["location"] == "/"


async def test_a_person_who_switched_to_english_keeps_it_after_logout_and_at_the_next_login(settings, db, clock, factory):
    organisation = await factory.organisation()
    account = await factory.account(organisation)
    async with running_app(settings, clock) as (_, client):
        client.cookies.set(SESSION_COOKIE, await login_session(db, clock, account, organisation))
        assert html_lang((await client.get("/", headers={"Accept-Language": "de"})).text) == "de"
        await client.get("/sprache/en?zurueck=/")
        page = await client.get("/")
        logged_out = await client.post("/abmelden", headers={"X-CSRFToken": csrf_of(page.text)})
        assert logged_out.status_code == 303
        login_page = await client.get("/anmelden", headers={"Accept-Language": "de"})
        assert html_lang(login_page.text) == "en"  # the cookie stays after logout
        # Another browser: no language cookie, a German browser; the profile decides after login.
        client.cookies.clear()
        assert html_lang((await client.get("/anmelden", headers={"Accept-Language": "de"})).text) == "de"
        client.cookies.set(SESSION_COOKIE, await login_session(db, clock, account, organisation))
        home = await client.get("/", headers={"Accept-Language": "de"})
    assert html_lang(home.text) == "en"
    stored = await db.fetch_one(Account.select(Account.language).where(Account.id == account))
    assert stored["language"] == "en"


# -- mails in the recipient's language ----------------------------------------------------


@pytest.fixture
async def smtp():
    async with SmtpServer() as server:
        yield server


async def tick(service, settings, smtp, clock, registry, **advance):
    """Time passes; the scheduler's two jobs run once."""
    clock.advance(**advance)
    await fire_due_timers(service)
    await dispatch_due_mail(service.db, smtp.settings_for(settings), clock, registry, Signer(TEST_SECRET))


async def test_an_invitation_sent_in_english_brings_english_invitation_reminder_and_status_mails(
    settings, factory, db, clock, service, registry, smtp
):
    organisation = await factory.organisation()
    admin = await factory.account(organisation, role="admin")
    async with running_app(settings, clock) as (_, client):
        browser = AdminBrowser(client, await login_session(db, clock, admin, organisation))
        invited = await browser.invite(email="b.tester@abc.de", invitation_language="en")
        assert invited.status_code == 303
        german_admin_page = await browser.get("/nutzerverwaltung/")
        assert html_lang(german_admin_page.text) == "de"  # the admin's own pages stay German
        await tick(service, settings, smtp, clock, registry)
        await tick(service, settings, smtp, clock, registry, hours=72)
        assert [m["Subject"] for m in smtp.messages] == [
            "Your invitation to Partnerportal", "Reminder: your registration with Partnerportal",
        ]
        instance = (await db.fetch_one(FlowInstance.select(FlowInstance.id).where(FlowInstance.account.email == "b.tester@abc.de")))["id"]
        client.cookies.clear()
        person = Invitee(client, db, clock, settings.secret_key)
        await person.redeem(await person.issue_link(instance))
        assert (await person.complete_profile()).status_code == 303
        await tick(service, settings, smtp, clock, registry, hours=48)
    status = smtp.messages[-1]
    assert status["Subject"] == "Status of your registration: activation of your access"
    text, html = parts(status)
    assert '<html lang="en">' in html
    assert all(m["To"] == "b.tester@abc.de" for m in smtp.messages)


async def test_an_invitation_in_an_unoffered_language_is_refused_next_to_the_field(settings, factory, db, clock):
    organisation = await factory.organisation()
    admin = await factory.account(organisation, role="admin")
    async with running_app(dataclasses.replace(settings, languages="de,en"), clock) as (_, client):
        browser = AdminBrowser(client, await login_session(db, clock, admin, organisation))
        refused = await browser.invite(email="b.tester@abc.de", invitation_language="de-x-ls")
    assert refused.status_code == 422
    assert "Bitte wählen Sie eine der angebotenen Sprachen aus." in unescape(refused.text)
    assert 'value="b.tester@abc.de"' in refused.text
