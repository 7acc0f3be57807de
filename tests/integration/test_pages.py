"""The information pages over HTTP: Hilfe, Barrierefreiheit, Barriere melden (validation,
storage, CSRF, the per-address limit, `partnerportal reports list`), Download
Zwei-Faktor-Authentifizierung and Kontakt, each linked from every page's footer."""

from __future__ import annotations

import logging

import asyncio
import dataclasses
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import httpx
import pytest

from db.tables import ALL_TABLES, BarrierReport
from core.settings import Settings, SettingsError
from tests.support.app import running_app

PARTNERPORTAL = Path(sys.executable).parent / "partnerportal"
CLIENT_IP = "192.0.2.10"  # what tests/support/app.py gives as the client address
PAGES = {
    "/hilfe": "Hilfe",
    "/barrierefreiheit": "Erklärung zur Barrierefreiheit",
    "/barriere-melden": "Barriere melden",
    "/zwei-faktor-app": "Download Zwei-Faktor-Authentifizierung",
    "/kontakt": "Kontakt",
}
FOOTER_LINKS = {
    "/barrierefreiheit": "Barrierefreiheit",
    "/barriere-melden": "Barriere melden",
    "/hilfe": "Hilfe",
    "/zwei-faktor-app": "Download Zwei-Faktor-Authentifizierung",
    "/kontakt": "Kontakt",
}
GOOD = {"page_url": "/nutzerverwaltung/", "description": "Die Tabelle lässt sich mit dem Screenreader nicht lesen.",
        "email": "b.tester@example.org"}


def h1(html: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert match, "the page has no <h1>"
    return readable(match.group(1)).strip()


def readable(html: str) -> str:
    """The text as people read it: entities resolved, soft hyphens (drawn only at a line's end) left out."""
    return unescape(html).replace("\u00ad", "")


def footer_links(html: str) -> dict[str, str]:
    """href -> link text of the footer's links."""
    footer = re.search(r"<footer.*?</footer>", html, re.S)
    assert footer, "the page has no footer"
    return {unescape(href): unescape(text).strip() for href, text in re.findall(r'<a href="([^"]+)">(.*?)</a>', footer.group(0))}


def input_value(html: str, name: str) -> str:
    if name == "description":
        return unescape(re.search(r'<textarea id="description"[^>]*>(.*?)</textarea>', html, re.S).group(1))
    return unescape(re.search(rf'<input id="{name}" name="{name}"[^>]*value="([^"]*)"', html, re.S).group(1))


class Reporter:
    """Someone filling in "Barriere melden" in a browser: the form's CSRF token is sent along."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self._token: str | None = None

    async def token(self) -> str:
        if self._token is None:
            form = await self.client.get("/barriere-melden")
            self._token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text).group(1)
        return self._token

    async def report(self, **fields) -> httpx.Response:
        data = {**GOOD, **fields, "_csrf_token": await self.token()}
        return await self.client.post("/barriere-melden", data={k: v for k, v in data.items() if v is not None})


async def stored_reports(db) -> list[dict]:
    return await db.fetch(BarrierReport.select().order_by(BarrierReport.id))


async def row_counts(db) -> dict[str, int]:
    return {t._meta.tablename: len(await db.fetch(t.select(t.id))) for t in ALL_TABLES}


# -- the pages and the footer --------------------------------------------------------


@pytest.mark.parametrize(("path", "heading"), PAGES.items())
async def test_each_page_answers_with_its_german_heading(settings, db, clock, path, heading):
    async with running_app(settings, clock) as (_, client):
        response = await client.get(path)
    assert response.status_code == 200
    assert h1(response.text) == heading
    assert '<html lang="de">' in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "<style" not in response.text and "style=" not in response.text and "<script>" not in response.text


@pytest.mark.parametrize(
    ("path", "status"),
    [("/", 200), ("/seite-gibt-es-nicht", 404), ("/anmelden", 200), ("/barriere-melden/danke", 200),
     *[(p, 200) for p in PAGES]],
)
async def test_every_page_links_all_information_pages_in_its_footer(settings, db, clock, path, status):
    async with running_app(settings, clock) as (_, client):
        response = await client.get(path, headers={"accept": "text/html"})
    assert response.status_code == status
    links = footer_links(response.text)
    for target, label in FOOTER_LINKS.items():
        href = f"{target}?seite={path}" if target == "/barriere-melden" else target
        assert links.get(href) == label, f"{path}: no footer link {href} ({label}) in {links}"
    assert links["/"] == settings.portal_name


async def test_the_report_link_on_an_invitation_page_leaves_out_the_token(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        response = await client.get("/einladung/geheimes-token.abc", headers={"accept": "text/html"})
    links = footer_links(response.text)
    assert "/barriere-melden?seite=/einladung/%E2%80%A6" in links
    assert "geheimes-token" not in " ".join(links)


async def test_help_names_the_rules_in_force(settings, db, clock):
    async with running_app(dataclasses.replace(settings, activation_code_minutes=15, pin_attempts=4), clock) as (_, client):
        text = unescape((await client.get("/hilfe")).text)
    assert text.count("<details") >= 10 and "<summary>" in text
    for fact in ("720 Stunden (30 Tage)", "8 Ziffern", "gilt 15 Minuten", "genau 6 Ziffern", "Nach 4 falschen Eingaben wird das Gerät gesperrt",
                 "niemals weiter", "„Gerät verloren“", "Admin Ihrer Organisation", "widerrufen", "Postfach für Sie gesperrt",
                 "Registrierung fortsetzen", "support@partnerportal.example"):
        assert fact in text, fact
    headings = re.findall(r"<h([1-6])", text)
    assert headings[0] == "1" and all(int(b) - int(a) <= 1 for a, b in zip(headings, headings[1:])), headings


async def test_accessibility_statement(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        text = unescape((await client.get("/barrierefreiheit")).text)
    for fact in ("BITV 2.0", "WCAG", "2.1", "teilweise", "Diagramm", "Tabellen", "Leichter Sprache", "29. November 2026",
                 "Schlichtungsstelle nach § 16 des Behindertengleichstellungsgesetzes", 'href="/barriere-melden"'):
        assert fact in text, fact


async def test_app_download_page_points_to_the_app(settings, db, clock):
    async with running_app(settings, clock) as (app, client):
        text = unescape((await client.get("/zwei-faktor-app")).text)
    assert 'href="/app/"' in text and "http://test/app/" in text
    for fact in ("Android", "iOS", "Windows", "macOS", "Zum Startbildschirm hinzufügen", "aktuellen Versionen", "Citrix"):
        assert fact in text, fact


async def test_support_contacts_come_from_the_settings(settings, db, clock):
    own = dataclasses.replace(
        settings, support_email="hilfe@kasse.example", support_phone="+49 30 1234-5",
        payment_contact_email="avis@kasse.example", payment_contact_phone="030 999",
    )
    async with running_app(own, clock) as (_, client):
        text = readable((await client.get("/kontakt")).text)
        for path in ("/hilfe", "/zwei-faktor-app", "/barrierefreiheit"):
            assert 'href="mailto:hilfe@kasse.example"' in unescape((await client.get(path)).text), path
    assert "Technischer Support" in text and "Fragen zu Zahlungsavisen" in text
    assert 'href="mailto:hilfe@kasse.example"' in text and 'href="tel:+493012345">+49 30 1234-5<' in text
    assert 'href="mailto:avis@kasse.example"' in text and 'href="tel:030999">030 999<' in text

    # Development fills unset contacts with examples, so the demo's pages are complete.
    async with running_app(settings, clock) as (_, client):
        text = unescape((await client.get("/kontakt")).text)
    assert "support@partnerportal.example" in text and "0800 000000" in text and "zahlungsavise@partnerportal.example" in text


def test_contacts_are_unset_by_default_and_the_limit_must_be_positive():
    defaults = Settings(secret_key="x" * 32)
    assert (defaults.support_email, defaults.support_phone, defaults.payment_contact_email, defaults.payment_contact_phone) == ("",) * 4
    assert defaults.barrier_reports_per_ip_per_hour == 10
    with pytest.raises(SettingsError, match="BARRIER_REPORTS_PER_IP_PER_HOUR"):
        Settings.from_env({"PARTNERPORTAL_BARRIER_REPORTS_PER_IP_PER_HOUR": "0", "PARTNERPORTAL_SECRET_KEY": "x" * 32})


async def test_production_shows_no_example_contact(settings, db, clock):
    """Issue 11, defect 6: an unset contact is not shown at all, never as an example."""
    production = dataclasses.replace(settings, environment="production", smtp_host="127.0.0.1", support_phone="0800 123 456")
    async with running_app(production, clock) as (_, client):
        pages = {path: unescape((await client.get(path)).text) for path in ("/kontakt", "/hilfe", "/zwei-faktor-app", "/barrierefreiheit")}
    for path, text in pages.items():
        assert ".example" not in text and "0800 000000" not in text and "mailto:" not in text, path
        assert 'href="tel:0800123456"' in text, path
    assert "Zahlungsavise" not in pages["/kontakt"]


def test_serve_warns_about_every_unset_contact(caplog):
    from partnerportal.cli import _warn_unset_contacts

    with caplog.at_level(logging.WARNING, logger="partnerportal"):
        _warn_unset_contacts(Settings(secret_key="x" * 32, environment="production", smtp_host="127.0.0.1", support_email="hilfe@kasse.example"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [w.split()[0] for w in warnings] == [
        "PARTNERPORTAL_SUPPORT_PHONE", "PARTNERPORTAL_PAYMENT_CONTACT_EMAIL", "PARTNERPORTAL_PAYMENT_CONTACT_PHONE"]
    assert all("is not set" in w for w in warnings)


# -- Barriere melden -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seite", "prefilled"),
    [
        ("/hilfe", "/hilfe"),
        ("/nutzerverwaltung/42", "/nutzerverwaltung/42"),
        ("http://test/kontakt", "/kontakt"),
        ("https://evil.example/hilfe", ""),
        ("//evil.example/hilfe", ""),
        ("/\\evil.example", ""),
        ("javascript:alert(1)", ""),
        ("hilfe", ""),
        ("/hilfe\nX", ""),
        (["/hilfe", "/kontakt"], ""),
    ],
)
async def test_the_form_takes_its_page_from_seite_only_when_it_is_on_this_site(settings, db, clock, seite, prefilled):
    async with running_app(settings, clock) as (_, client):
        response = await client.get("/barriere-melden", params={"seite": seite})
    assert response.status_code == 200
    assert input_value(response.text, "page_url") == prefilled


async def test_a_report_is_stored_and_thanked_for(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        response = await Reporter(client).report(
            page_url="http://test/nutzerverwaltung/", description="Zeile eins\r\nZeile zwei\tmit Tab", email="B.Tester@Beispiel.DE",
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/barriere-melden/danke"
        thanks = await client.get(response.headers["location"])
    assert thanks.status_code == 200 and h1(thanks.text) == "Vielen Dank für Ihre Meldung"
    (report,) = await stored_reports(db)
    assert report["page_url"] == "/nutzerverwaltung/"
    assert report["description"] == "Zeile eins\nZeile zwei\tmit Tab"
    assert report["email"] == "B.Tester@beispiel.de"
    assert report["client_ip"] == CLIENT_IP
    assert report["created_at"] == clock.now()


async def test_page_and_email_are_optional(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        response = await Reporter(client).report(page_url="", email="")
    assert response.status_code == 303
    (report,) = await stored_reports(db)
    assert (report["page_url"], report["email"]) == ("", "")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("description", "", "Bitte beschreiben Sie die Barriere."),
        ("description", "   \r\n ", "Bitte beschreiben Sie die Barriere."),
        ("description", "x" * 2001, "höchstens 2000 Zeichen lang sein; sie hat jetzt 2001."),
        ("description", "Knopf\x00fehlt", "keine Steuerzeichen"),
        ("description", "Farbe \x1b[31mrot", "keine Steuerzeichen"),
        ("email", "keine-adresse", "gültige E-Mail-Adresse"),
        ("email", "a@localhost", "gültige E-Mail-Adresse"),
        ("email", "x@example.org\r\nBcc: y@example.org", "keine Leer-, Steuerzeichen"),
        ("page_url", "https://evil.example/hilfe", "Adresse dieses Portals"),
        ("page_url", "//evil.example", "Adresse dieses Portals"),
        ("page_url", "/hilfe\x07", "Adresse dieses Portals"),
        ("page_url", "/" + "a" * 500, "Adresse dieses Portals"),
    ],
)
async def test_bad_input_gets_a_german_message_next_to_its_field_keeps_the_rest_and_writes_nothing(
    settings, db, clock, field, value, message
):
    async with running_app(settings, clock) as (_, client):
        reporter = Reporter(client)
        await reporter.token()
        before = await row_counts(db)
        response = await reporter.report(**{field: value})
        after = await row_counts(db)
    assert response.status_code == 422
    error = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', response.text, re.S)
    assert error and message in unescape(error.group(1)), response.text
    assert f'{field}-error"' in re.search(rf'<(?:input|textarea) id="{field}"[^>]*>', response.text).group(0)
    assert 'role="alert"' in response.text
    for other in (name for name in GOOD if name != field):
        assert input_value(response.text, other) == GOOD[other]
    assert after == before


async def test_markup_in_a_report_is_shown_as_text(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        response = await Reporter(client).report(description="<script>alert(1)</script>", email="kaputt")
    assert response.status_code == 422
    assert "<script>alert(1)" not in response.text and "&lt;script&gt;alert(1)" in response.text


async def test_a_list_where_one_value_is_expected_or_an_unknown_field_is_refused(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        reporter = Reporter(client)
        token = await reporter.token()
        twice = await client.post("/barriere-melden", data={**GOOD, "_csrf_token": token, "email": ["a@example.org", "b@example.org"]})
        extra = await reporter.report(client_ip="203.0.113.9")
    assert twice.status_code == 422 and "nur einen Wert" in twice.text
    assert extra.status_code == 422 and "unerwartete Felder" in extra.text
    assert await stored_reports(db) == []


async def test_a_report_needs_the_csrf_token(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        await client.get("/barriere-melden")  # the CSRF cookie is set, the token is not sent
        missing = await client.post("/barriere-melden", data=GOOD, headers={"accept": "text/html"})
        wrong = await client.post("/barriere-melden", data={**GOOD, "_csrf_token": "falsch"}, headers={"accept": "text/html"})
    for response in (missing, wrong):
        assert response.status_code == 403
        assert "Formular ist veraltet" in unescape(response.text)
    assert await stored_reports(db) == []


async def test_reports_are_limited_per_client_address_and_hour(settings, db, clock):
    async with running_app(dataclasses.replace(settings, barrier_reports_per_ip_per_hour=3), clock) as (app, client):
        reporter = Reporter(client)
        for _ in range(3):
            assert (await reporter.report()).status_code == 303
        clock.advance(minutes=59)
        refused = await reporter.report(description="Noch eine Barriere")
        assert refused.status_code == 429
        assert "in der letzten Stunde bereits 3 Meldungen" in unescape(refused.text)
        assert input_value(refused.text, "description") == "Noch eine Barriere"

        other_transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 4711))
        async with httpx.AsyncClient(transport=other_transport, base_url="http://test") as other_client:
            assert (await Reporter(other_client).report()).status_code == 303

        clock.advance(minutes=1, seconds=1)
        assert (await reporter.report()).status_code == 303
    assert [r["client_ip"] for r in await stored_reports(db)] == [CLIENT_IP] * 3 + ["198.51.100.7", CLIENT_IP]


async def test_parallel_reports_from_one_address_stop_at_the_limit(settings, db, clock):
    async with running_app(dataclasses.replace(settings, barrier_reports_per_ip_per_hour=5), clock) as (_, client):
        reporter = Reporter(client)
        await reporter.token()
        responses = await asyncio.gather(*(reporter.report(description=f"Meldung {i}") for i in range(20)))
    assert sorted(r.status_code for r in responses) == [303] * 5 + [429] * 15
    assert len(await stored_reports(db)) == 5


async def test_operators_list_the_reports_with_the_cli(settings, db, clock, database_url, tmp_path):
    async with running_app(settings, clock) as (_, client):
        reporter = Reporter(client)
        assert (await reporter.report(page_url="/hilfe", description="Erste Zeile\nZweite Zeile", email="")).status_code == 303
        clock.advance(minutes=5)
        assert (await reporter.report(page_url="", description="Kontrast zu schwach")).status_code == 303

    listed = await asyncio.to_thread(reports_list, tmp_path, database_url)
    assert listed.returncode == 0, listed.stderr
    first, second = listed.stdout.split("#")[1:]
    assert first.startswith("1  2026-01-05 09:00 UTC  page: /hilfe  reply to: -\n")
    assert "\n    Erste Zeile\n    Zweite Zeile\n" in first
    assert second.startswith("2  2026-01-05 09:05 UTC  page: -  reply to: b.tester@example.org\n")
    assert "    Kontrast zu schwach" in second

    newest = await asyncio.to_thread(reports_list, tmp_path, database_url, "--limit", "1")
    assert newest.stdout.count("#") == 1 and "Kontrast zu schwach" in newest.stdout


async def test_the_cli_says_when_there_are_no_reports(db, database_url, tmp_path):
    listed = await asyncio.to_thread(reports_list, tmp_path, database_url)
    assert listed.returncode == 0 and listed.stdout == "No accessibility reports.\n"


def reports_list(cwd: Path, database_url: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI runs in `cwd`, a temporary folder: it may write there (e.g. a development key under var/)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERPORTAL_")}
    env["PARTNERPORTAL_DATABASE_URL"] = database_url
    return subprocess.run([str(PARTNERPORTAL), "reports", "list", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
