"""Smaller findings of the security probes (issue 8, section 4): deleting a person ends
their device, activation codes are stored keyed, production cookies and headers,
the SMTP warning."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging

import pytest

from db.tables import ActivationCode, Device
from partnerportal.worker import run_worker
from tests.integration.test_twofactor import activated, registered
from tests.support.app import running_app
from tests.support.invitee import Invitee
from web.app import create_app
from web.auth import SESSION_COOKIE


async def test_pin5_deleting_a_person_revokes_their_device(settings, factory, db, clock, service):
    """PIN-5: after "Löschen" the person's app is no longer registered, at once."""
    async with running_app(settings, clock) as (_, client):
        record, _, app = await activated(settings, factory, db, clock, client)
        assert (await app.requests()).status_code == 200
        await service.send(record.id, "delete", actor="account:1")
        refused = await app.requests()
        assert refused.status_code == 401 and "nicht (mehr) registriert" in refused.json()["error"]
    device = await db.fetch_one(Device.select(Device.revoked_at).where(Device.account == record.account_id))
    assert device["revoked_at"] is not None


async def test_act1_activation_codes_are_stored_keyed_with_the_secret(settings, factory, db, clock):
    """ACT-1: the stored hash of an 8-digit code is an HMAC with the secret key; the
    plain SHA-256 an offline attacker could reverse by trying all 10^8 codes is not stored."""
    async with running_app(settings, clock) as (_, client):
        record, _, grouped = await registered(settings, factory, db, clock, client)
    code = grouped.replace(" ", "")
    stored = (await db.fetch_one(ActivationCode.select(ActivationCode.code_hash).where(ActivationCode.instance == record.id)))["code_hash"]
    unkeyed = hashlib.sha256(f"{record.id}:{code}".encode()).hexdigest()
    assert stored != unkeyed
    assert stored == hmac.new(settings.secret_key.encode(), f"{record.id}:{code}".encode(), hashlib.sha256).hexdigest()
    other_key = hmac.new(b"another-secret-key-of-32-characters!!", f"{record.id}:{code}".encode(), hashlib.sha256).hexdigest()
    assert stored != other_key



def production(settings):
    # An SMTP host as production needs one; the scheduler is off, so nothing is sent.
    return dataclasses.replace(settings, environment="production", smtp_host="127.0.0.1", base_url="https://test")


def set_cookies(response) -> dict[str, str]:
    """Each Set-Cookie header by cookie name, lower-cased (attributes are case-insensitive)."""
    return {h.split("=", 1)[0]: h.lower() for h in response.headers.get_list("set-cookie")}


async def test_ses6_production_pages_send_strict_transport_security(settings):
    """SES-6: HSTS on every production response (pages, errors, static files), never in development."""
    async with running_app(production(settings), base_url="https://test") as (_, client):
        for path in ("/anmelden", "/gibt-es-nicht", "/static/css/portal.css", "/health"):
            response = await client.get(path)
            assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains", path
    async with running_app(settings) as (_, client):
        assert "strict-transport-security" not in (await client.get("/anmelden")).headers


async def test_ses5_production_session_and_csrf_cookies_carry_the_host_prefix(settings, factory, db, clock):
    """SES-5: in production the session and CSRF cookies are `__Host-` cookies (Secure,
    Path=/, no Domain); a cookie without the prefix, as a sibling subdomain or a plain-HTTP
    response could plant it, opens no session."""
    settings = production(settings)
    record = await factory.invite(email="b.tester@abc.de")
    async with running_app(settings, clock, base_url="https://test") as (_, client):
        person = Invitee(client, db, clock, settings.secret_key)
        link = await person.issue_link(record.id)
        page = await person.get(link)
        csrf = set_cookies(page)["__Host-csrftoken"]
        assert "secure" in csrf and "path=/" in csrf and "domain" not in csrf
        assert "csrftoken" not in set_cookies(page)
        started = await person.post(link)  # the CSRF check reads the prefixed cookie
        assert started.status_code == 303, started.text
        session = set_cookies(started)["__Host-pp_session"]
        assert all(a in session for a in ("secure", "httponly", "samesite=lax", "path=/")) and "domain" not in session
        assert SESSION_COOKIE not in set_cookies(started)
        token = client.cookies.get("__Host-pp_session")
        opened = await person.get("/registrierung/daten")
        assert opened.status_code == 200 and "<h1>Persönliche Daten</h1>" in opened.text

        client.cookies.delete("__Host-pp_session")
        client.cookies.set(SESSION_COOKIE, token)  # planted without the prefix
        planted = await person.get("/registrierung/daten")
        assert planted.status_code == 401 and "<h1>Persönliche Daten</h1>" not in planted.text

        client.cookies.delete(SESSION_COOKIE)
        client.cookies.set("__Host-pp_session", token)
        ended = set_cookies(await person.post("/abmelden"))["__Host-pp_session"]
        # Browsers ignore a __Host- cookie deletion without Secure: the logout must send it.
        assert "secure" in ended and "max-age=0" in ended and "path=/" in ended


async def test_ses5_development_keeps_plain_cookie_names(settings, factory, db, clock):
    """SES-5: plain HTTP in development cannot hold `__Host-` cookies, so the names stay plain there."""
    record = await factory.invite(email="b.tester@abc.de")
    async with running_app(settings, clock) as (_, client):
        person = Invitee(client, db, clock, settings.secret_key)
        link = await person.issue_link(record.id)
        assert "csrftoken" in set_cookies(await person.get(link))
        assert SESSION_COOKIE in set_cookies(await person.post(link))


@pytest.mark.parametrize(
    ("host", "security", "warned"),
    [("mail.example.org", "none", True), ("192.0.2.25", "none", True), ("mail.example.org", "starttls", False),
     ("mail.example.org", "tls", False), ("127.0.0.1", "none", False), ("localhost", "none", False), ("::1", "none", False),
     ("", "none", False)],
)
async def test_inv1_mail_to_a_remote_server_without_tls_is_warned_at_start(settings, caplog, host, security, warned):
    """INV-1: invitation links must not cross the network in clear text unnoticed: `serve`
    and `worker` warn at start when the mail server is not on loopback and TLS is off."""
    settings = dataclasses.replace(settings, smtp_host=host, smtp_security=security)
    with caplog.at_level(logging.WARNING):
        stop = asyncio.Event()
        stop.set()
        assert await run_worker(settings, stop) == 0
        create_app(settings)  # last: Litestar's logging set-up replaces the root handler caplog reads
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "without TLS" in r.getMessage()]
    if warned:
        assert [r.name for r in warnings] == ["partnerportal.worker", "web.app"]
        assert f"{host}:25" in warnings[0].getMessage() and "PARTNERPORTAL_SMTP_SECURITY" in warnings[0].getMessage()
    else:
        assert warnings == []


async def test_act1_the_migration_ends_codes_stored_under_the_old_hash(factory, db, clock):
    """ACT-1: codes still open at the upgrade were hashed without the key and could never
    match again; m0017 ends them (they would otherwise count wrong tries)."""
    from datetime import timedelta

    from db.migrations import m0017_security_findings as migration

    record = await factory.invite()
    now = clock.now()
    await db.write([ActivationCode.insert(ActivationCode(
        instance=record.id, code_hash="0" * 64, attempts=0, created_at=now, expires_at=now + timedelta(minutes=10),
    ))])
    await db.write([ActivationCode.raw(statement) for statement in migration.STATEMENTS])
    row = await db.fetch_one(ActivationCode.select(ActivationCode.ended_at, ActivationCode.created_at))
    assert row["ended_at"] == row["created_at"] == now
