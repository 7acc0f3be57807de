"""The web shell: security headers, German error pages, CSRF, health, static htmx."""

from __future__ import annotations

import dataclasses
import re

import pytest

from db.engine import Database
from db.migrate import UnmigratedDatabase
from tests.support.app import running_app
from tests.support.environment import ENGINE
from tests.support.tcp_proxy import TcpProxy


async def test_every_page_carries_the_security_headers(settings, db):
    async with running_app(settings) as (_, client):
        for path in ["/", "/health", "/does-not-exist", "/static/css/portal.css"]:
            response = await client.get(path, headers={"accept": "text/html"})
            csp = response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
        page = await client.get("/")
        assert page.headers["cache-control"] == "no-store"


async def test_pages_have_no_inline_script_and_serve_pinned_htmx_locally(settings, db):
    async with running_app(settings) as (_, client):
        html = (await client.get("/")).text
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
        htmx = await client.get("/static/vendor/htmx-2.0.11/htmx.min.js")
        assert htmx.status_code == 200 and 'version:"2.0.11"' in htmx.text.replace(" ", "")
        assert (await client.get("/static/vendor/htmx-ext-sse-2.2.4/sse.js")).status_code == 200
        assert 'lang="de"' in html


async def test_errors_are_german_pages_without_internals(settings, db):
    async with running_app(settings) as (_, client):
        missing = await client.get("/nope", headers={"accept": "text/html"})
        assert missing.status_code == 404
        assert "Diese Seite gibt es nicht." in missing.text
        assert "Traceback" not in missing.text
        wrong_method = await client.delete("/", headers={"accept": "text/html"})
        assert wrong_method.status_code == 405
        assert "Diese Aktion ist hier nicht möglich." in wrong_method.text


async def test_a_post_without_csrf_token_is_refused(settings, db):
    from litestar import post

    calls = []

    @post("/test-only/echo", sync_to_thread=False)
    def echo() -> str:
        calls.append(1)
        return "ok"

    async with running_app(settings) as (app, client):
        app.register(echo)
        refused = await client.post("/test-only/echo", headers={"accept": "text/html"})
        assert refused.status_code == 403
        assert "Formular ist veraltet" in refused.text
        assert calls == []
        page = await client.get("/")
        token = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
        accepted = await client.post("/test-only/echo", headers={"X-CSRFToken": token})
        assert accepted.status_code == 201 and calls == [1]


async def test_health_reports_database_and_scheduler(settings, db):
    async with running_app(settings) as (_, client):
        body = (await client.get("/health")).json()
        assert body == {"status": "ok", "database": "ok", "scheduler": "disabled", "flows": {"onboarding": 2}}
    async with running_app(dataclasses.replace(settings, sweep_interval_seconds=3600, scheduler_enabled=True)) as (_, client):
        assert (await client.get("/health")).json()["scheduler"] == "running"


async def test_the_app_refuses_an_unmigrated_database(tmp_path):
    from core.settings import Settings

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.sqlite'}", secret_key="k" * 40)
    with pytest.raises(BaseException) as raised:
        async with running_app(settings):
            pass
    error = raised.value
    while isinstance(error, BaseExceptionGroup):  # the lifespan runs in a task group
        error = error.exceptions[0]
    assert isinstance(error, UnmigratedDatabase)
    assert "Run: partnerportal db upgrade" in str(error)


def test_production_without_secret_is_a_startup_error(tmp_path, monkeypatch):
    from core.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="PARTNERPORTAL_SECRET_KEY: must be set in production"):
        Settings.from_env({"PARTNERPORTAL_ENVIRONMENT": "production"})
    monkeypatch.chdir(tmp_path)
    generated = Settings.from_env({})
    assert generated.secret_generated and len(generated.secret_key) >= 32
    # Every development process on the machine shares it (links printed by one verify in another).
    assert Settings.from_env({}).secret_key == generated.secret_key
    assert (tmp_path / "var" / "development-secret-key").stat().st_mode & 0o077 == 0


@pytest.mark.postgres
async def test_database_outage_gives_503_and_recovers_without_restart(settings, db):
    proxy = TcpProxy.for_database(settings.database_url)
    await proxy.start()
    via_proxy = proxy.url(settings.database_url)
    async with running_app(dataclasses.replace(settings, database_url=via_proxy)) as (_, client):
        assert (await client.get("/health")).status_code == 200
        await proxy.cut()
        health = await client.get("/health")
        assert health.status_code == 503 and health.json()["database"] == "unavailable"
        await proxy.start()
        assert (await client.get("/health")).status_code == 200
    await proxy.cut()


async def test_htmx_requests_without_a_session_reload_the_page(settings, db):
    async with running_app(settings) as (_, client):
        response = await client.get("/nutzerverwaltung/", headers={"HX-Request": "true"})
        assert response.status_code == 401 and response.headers["HX-Refresh"] == "true"


async def test_the_hyphenation_patterns_are_loaded_at_start_not_by_the_first_page(settings, db):
    """Loading them takes most of a second of CPU: the first admin to open a page with a
    heading after a start (or deploy) would wait for it."""
    from web import hyphenation

    hyphenation._dictionary.cache_clear()  # as in a fresh process
    async with running_app(settings):
        assert hyphenation._dictionary.cache_info().currsize == 1
