"""Leichte Sprache (de-x-ls): the pages people most need in it exist as whole pages,
differ from the standard German ones, stay German for assistive technology
(<html lang="de">), and follow the rules a program can check (tests/support/leichte_sprache.py)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from core import i18n
from mail.rendering import MailValues, render_mail
from core.signing import Signer
from jobs.outbox import dispatch_due_mail
from tests.support.admin import AdminBrowser, login_session
from tests.support.app import running_app
from tests.support.device import Device as App
from tests.support.invitee import Invitee
from tests.support.leichte_sprache import main_text, problems
from tests.support.smtp import SmtpServer, link_in, parts
from web.auth import SESSION_COOKIE
from web.i18n import LANGUAGE_COOKIE

LS = {LANGUAGE_COOKIE: i18n.LEICHTE_SPRACHE}
HTML = {"accept": "text/html"}
# path -> (status, the Leichte Sprache page's heading)
PUBLIC_PAGES = {
    "/hilfe": (200, "Hilfe in Leichter Sprache"),
    "/barrierefreiheit": (200, "Barriere-Freiheit in Leichter Sprache"),
    "/barriere-melden": (200, "Barriere melden"),
    "/barriere-melden/danke": (200, "Danke für Ihre Meldung"),
    "/diese-seite-gibt-es-nicht": (404, "Wir finden diese Seite nicht"),
    "/einladung/kein-gueltiger-link": (404, "Dieser Link geht nicht mehr"),
    "/nutzerverwaltung/": (401, "Bitte melden Sie sich an"),
}


def h1(html: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert match, "the page has no <h1>"
    return re.sub(r"<[^>]+>", "", match.group(1)).replace("\u00ad", "").strip()


def html_lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)"', html).group(1)


def choose_leichte_sprache(client) -> None:
    client.cookies.update(LS)


async def both(client, path: str):
    """The page in standard German, then in Leichte Sprache."""
    standard = await client.get(path, headers=HTML)
    choose_leichte_sprache(client)
    easy = await client.get(path, headers=HTML)
    return standard, easy


@pytest.mark.parametrize("path", list(PUBLIC_PAGES))
async def test_public_page_has_its_own_leichte_sprache_version(settings, path):
    status, heading = PUBLIC_PAGES[path]
    async with running_app(settings) as (_, client):
        standard, easy = await both(client, path)
    assert standard.status_code == easy.status_code == status
    assert h1(easy.text) == heading
    assert main_text(easy.text) != main_text(standard.text)
    assert 'class="leichte-sprache"' in easy.text and 'class="leichte-sprache"' not in standard.text
    # Leichte Sprache is German: screen readers must read it with a German voice.
    assert html_lang(easy.text) == "de"


@pytest.mark.parametrize("path", list(PUBLIC_PAGES))
async def test_public_page_in_leichte_sprache_follows_the_rules(settings, path):
    async with running_app(settings) as (_, client):
        choose_leichte_sprache(client)
        easy = await client.get(path, headers=HTML)
    assert problems(main_text(easy.text)) == []


async def test_a_page_without_a_leichte_sprache_version_shows_the_standard_one(settings):
    async with running_app(settings) as (_, client):
        standard, easy = await both(client, "/kontakt")
    assert easy.status_code == 200 and h1(easy.text) == h1(standard.text) == "Kontakt"


async def test_barrier_report_in_leichte_sprache_keeps_the_form_working(settings):
    async with running_app(settings) as (_, client):
        choose_leichte_sprache(client)
        form = await client.get("/barriere-melden?seite=/hilfe")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text).group(1)
        assert re.search(r'<input id="page_url" name="page_url"[^>]*value="/hilfe"', form.text)
        empty = await client.post("/barriere-melden", data={"_csrf_token": token, "page_url": "/hilfe", "description": "", "email": ""})
        assert empty.status_code == 422
        assert h1(empty.text) == "Barriere melden" and 'class="leichte-sprache"' in empty.text
        assert 'id="description-error">Bitte schreiben Sie: Was ist passiert?</p>' in empty.text
        assert 'value="/hilfe"' in empty.text  # other input kept
        assert problems(main_text(empty.text)) == []
        sent = await client.post("/barriere-melden", data={
            "_csrf_token": token, "page_url": "/hilfe", "description": "Der Knopf ist zu klein.", "email": ""})
        assert sent.status_code == 303 and sent.headers["location"] == "/barriere-melden/danke"


async def test_consent_page_in_leichte_sprache_explains_and_keeps_the_binding_declarations(settings, factory, db, clock):
    record = await factory.invite()
    token = await login_session(db, clock, record.account_id, record.organisation_id, consent=False)
    async with running_app(settings, clock) as (_, client):
        client.cookies.set(SESSION_COOKIE, token)
        standard, easy = await both(client, "/einwilligung")
    assert standard.status_code == easy.status_code == 200
    assert h1(easy.text) == "Ihre Erlaubnis für Ihre Daten" != h1(standard.text)
    assert html_lang(easy.text) == "de"
    assert "Nur die Texte in schwerer Sprache gelten vor dem Gesetz." in easy.text
    # The declarations a person ticks are the binding German ones, word for word.
    labels = re.findall(r'<label for="accept_(?:privacy|terms)">(.*?)</label>', standard.text, re.S)
    assert len(labels) == 2 and re.findall(r'<label for="accept_(?:privacy|terms)">(.*?)</label>', easy.text, re.S) == labels
    assert problems(main_text(easy.text)) == []


def invitation_values(**overrides) -> MailValues:
    values = {"portal_name": "Partnerportal", "organisation_name": "Pflegedienst Sonnenschein", "role": "staff",
              "link": "http://test/einladung/abc", "validity_hours": 720,
              "expires_at": datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)}
    return MailValues(**{**values, **overrides})


def test_invitation_mail_in_leichte_sprache_is_its_own_text_and_follows_the_rules():
    standard = render_mail("invitation", invitation_values())
    easy = render_mail("invitation", invitation_values(language=i18n.LEICHTE_SPRACHE))
    assert easy.text != standard.text and easy.html != standard.html
    assert "Ein Zugang ist wie ein Schlüssel für das Portal." in easy.text
    for needed in ("http://test/einladung/abc", "Pflegedienst Sonnenschein", "720 Stunden", "03.12.2026, 10:00 Uhr"):
        assert needed in easy.text and needed in easy.html
    assert html_lang(easy.html) == "de"
    assert problems(body_text(easy.text)) == []
    assert problems(main_text(f"<main>{easy.html}</main>")) == []


def body_text(text: str) -> str:
    """A text mail without its link lines (an address is no sentence)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("http"))


async def test_registration_wizard_and_app_in_leichte_sprache_follow_the_rules(settings, factory, db, clock):
    """The wizard and the Zwei-Faktor-App take their texts from the de@ls catalog."""
    record = await factory.invite(email="b.tester@abc.de")
    async with running_app(settings, clock) as (_, client):
        choose_leichte_sprache(client)
        person = Invitee(client, db, clock, settings.secret_key)
        link = await person.issue_link(record.id)
        landing = await person.get(link)
        await person.post(link)
        pages = {"/registrierung/daten": "Ihre Daten"}
        profile = await person.get("/registrierung/daten")
        await person.complete_profile()
        pages.update({"/registrierung/geraet": "Ihr Gerät schützt Ihren Zugang", "/registrierung/app": "Die Zwei-Faktor-App einrichten"})
        seen = {"/registrierung/daten": profile, "the invitation's page": landing}
        pages["the invitation's page"] = "Willkommen beim Partnerportal"
        for path in ("/registrierung/geraet", "/registrierung/app"):
            seen[path] = await person.get(path)
        code = await person.show_code()
        wrong = "00000000" if code.replace(" ", "") != "00000000" else "11111111"
        refused = await App(client, clock).activate("b.tester@abc.de", wrong)
        seen["/registrierung/aktivierung"] = await person.get("/registrierung/aktivierung")
        pages["/registrierung/aktivierung"] = "Ihr Gerät mit dem Zugang verbinden"
        seen["/app/"] = await client.get("/app/")
        assert (await App(client, clock).activate("b.tester@abc.de", code, pin="472913")).status_code == 201
        seen["/registrierung/glueckwunsch"] = await person.get("/registrierung/glueckwunsch")
        pages["/registrierung/glueckwunsch"] = "Geschafft"
    for path, heading in pages.items():
        assert seen[path].status_code == 200, path
        assert h1(seen[path].text) == heading
    for path, response in seen.items():
        assert html_lang(response.text) == "de" and 'class="leichte-sprache"' in response.text, path
        html = activation_steps(response.text) if path == "/app/" else response.text
        assert problems(main_text(html)) == [], path
    assert "Ja, ich bin einverstanden" in activation_steps(seen["/app/"].text)
    # The app's refusal of a wrong code, in Leichte Sprache too.
    assert refused.status_code == 422
    left = settings.activation_code_attempts - 1
    assert refused.json()["error"] == f"Der Aktivierungs-Code ist falsch.\nSie haben noch {left} Versuche."
    assert problems(refused.json()["error"]) == []


ACTIVATION_SCREENS = ("loading", "terms", "credentials", "pin", "activated")


def activation_steps(html: str) -> str:
    """The app's screens up to the activation, without the app's terms of use: those
    are binding and stay in their German wording (the terms screen explains them)."""
    screens = [re.search(rf'<section id="screen-{name}".*?</section>', html, re.S).group(0) for name in ACTIVATION_SCREENS]
    return "<main>" + re.sub(r'<ol class="terms".*?</ol>', "", "".join(screens), flags=re.S) + "</main>"


async def test_an_invitation_made_in_leichte_sprache_arrives_in_it_over_smtp(settings, factory, db, clock, registry):
    """The admin chooses Leichte Sprache when inviting; the outbox sends the Leichte
    Sprache mail to a real SMTP server, with a working link."""
    organisation_id = await factory.organisation("Pflegedienst Sonnenschein")
    account_id = await factory.account(organisation_id, role="admin")
    token = await login_session(db, clock, account_id, organisation_id)
    async with SmtpServer() as smtp:
        async with running_app(settings, clock) as (_, client):
            admin = AdminBrowser(client, token)
            invited = await admin.invite(email="b.tester@abc.de", invitation_language="de-x-ls")
            assert invited.status_code == 303, invited.text  # back to the Nutzerverwaltung
            result = await dispatch_due_mail(db, smtp.settings_for(settings), clock, registry, Signer(settings.secret_key))
            assert result.sent == 1
            (message,) = smtp.messages
            link = link_in(message)
            client.cookies.clear()
            assert (await client.get(link[link.index("/einladung/"):])).status_code == 200
    text, html = parts(message)
    assert message["To"] == "b.tester@abc.de"
    assert "Ein Zugang ist wie ein Schlüssel für das Portal." in text
    assert "Ein Zugang ist wie ein Schlüssel für das Portal.<br>" in html
    assert "Pflegedienst Sonnenschein" in text and "Stunden Zeit" in text
    assert "Damit Sie das Portal nutzen können" not in text  # not the standard German mail
    assert html_lang(html) == "de"
    assert problems(body_text(text)) == []
