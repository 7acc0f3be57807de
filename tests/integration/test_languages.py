"""Which language a page is served in: Accept-Language on the first visit, the
`pp_lang` cookie before it; `lang` on <html> follows (issue 14)."""

from __future__ import annotations

import re

from tests.support.app import running_app


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
    assert html_lang(response.text) == "de-x-ls"


async def test_error_pages_of_unknown_paths_follow_the_language_too(settings, db, clock):
    async with running_app(settings, clock) as (_, client):
        response = await client.get("/seite-gibt-es-nicht", headers={"Accept-Language": "en", "Accept": "text/html"})
    assert response.status_code == 404
    assert html_lang(response.text) == "en"
