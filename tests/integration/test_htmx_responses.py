"""HTMX requests that must leave the page get litestar-htmx's client redirect (HX-Redirect
with status 200, which htmx follows); the same URLs without htmx answer with a 303."""

from __future__ import annotations

from tests.integration.test_twofactor import PIN, activated, login_request
from tests.support.app import running_app
from web.auth import SESSION_COOKIE

HTMX = {"HX-Request": "true"}


async def test_an_approved_login_polled_by_htmx_redirects_the_browser_to_the_start_page(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, person, app = await activated(settings, factory, db, clock, client)
        public_id, number = await login_request(person, "b.tester@abc.de")
        await app.answer((await app.requests()).json()["requests"][0], pin=PIN, number=number)
        done = await person.post(f"/anmelden/weiter/{public_id}", headers=HTMX)
        assert done.status_code == 200 and done.headers["HX-Redirect"] == "/"
        assert "location" not in done.headers
        assert done.cookies.get(SESSION_COOKIE)


async def test_a_denied_login_polled_by_htmx_redirects_to_the_ended_page(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, person, app = await activated(settings, factory, db, clock, client)
        public_id, _ = await login_request(person, "b.tester@abc.de")
        await app.answer((await app.requests()).json()["requests"][0], pin=PIN, decision="deny")
        ended = await person.post(f"/anmelden/weiter/{public_id}", headers=HTMX)
        assert ended.status_code == 200 and ended.headers["HX-Redirect"] == "/anmelden/beendet/denied"
        assert SESSION_COOKIE not in ended.cookies


async def test_htmx_requests_before_consent_are_sent_to_the_consent_page(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, person, app = await activated(settings, factory, db, clock, client)
        public_id, number = await login_request(person, "b.tester@abc.de")
        await app.answer((await app.requests()).json()["requests"][0], pin=PIN, number=number)
        assert (await person.post(f"/anmelden/weiter/{public_id}")).status_code == 303
        plain = await person.get("/postfach")
        assert plain.status_code == 303 and plain.headers["location"] == "/einwilligung"
        htmx = await person.get("/postfach", headers=HTMX)
        assert htmx.status_code == 200 and htmx.headers["HX-Redirect"] == "/einwilligung"
