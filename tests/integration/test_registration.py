"""The invitation link and the registration wizard: INV-1..INV-8, SES-1, SES-3."""

from __future__ import annotations

import hashlib
import re

import pytest

from db import links
from db.tables import Account, AuditEvent, FlowInstance, InvitationLink, WebSession
from tests.support.app import running_app
from tests.support.invitee import Invitee
from web.auth import SESSION_COOKIE
from tests.support import roles


async def state_of(db, instance_id):
    return (await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == instance_id)))["state"]


async def test_link_token_is_random_and_only_its_hash_is_stored(factory, db, clock):
    record = await factory.invite()
    token = links.new_token()
    assert len(token) >= 43  # 32 random bytes, base64url: 256 bits
    await db.write([links.issue_step(record.id, token, clock.now(), await links.invitation_expiry(db, record.id, roles.expiry_events()))])
    rows = await db.fetch(InvitationLink.select())
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(rows)


async def test_get_changes_nothing_and_post_starts_a_fresh_session_without_the_token_in_the_url(settings, factory, db, clock):
    record = await factory.invite()
    async with running_app(settings, clock) as (_, client):
        person = Invitee(client, db, clock, settings.secret_key)
        link = await person.issue_link(record.id)
        for _ in range(3):  # a mail scanner fetching the link
            page = await person.get(link)
            assert page.status_code == 200 and "Registrierung fortsetzen" in page.text
        assert SESSION_COOKIE not in client.cookies
        assert await db.fetch(WebSession.select()) == []
        assert await state_of(db, record.id) == "invited"
        started = await person.post(link)
        assert started.status_code == 303 and started.headers["location"] == "/registrierung"
        assert started.headers["referrer-policy"] == "no-referrer"
        first_token = started.cookies.get(SESSION_COOKIE)
        again = await person.post(link)  # redeeming again replaces the session (SES-1)
        assert again.cookies.get(SESSION_COOKIE) not in (None, first_token)
        sessions = await db.fetch(WebSession.select(WebSession.ended_at).order_by(WebSession.id))
        assert sessions[0]["ended_at"] is not None and sessions[1]["ended_at"] is None
        cookie = started.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        assert (await person.get("/registrierung", follow_redirects=True)).url.path == "/registrierung/daten"
        # The link opens the registration only: no Postfach, no admin pages.
        assert (await person.get("/nutzerverwaltung/", headers={"accept": "text/html"})).status_code == 401
        home = await person.get("/")
        assert "Herzlich Willkommen," not in home.text


async def test_unknown_expired_revoked_used_and_tampered_links_look_the_same(settings, factory, db, clock, service):
    async with running_app(settings, clock) as (app, client):
        person = Invitee(client, db, clock, settings.secret_key)
        revoked = await factory.invite()
        revoked_link = await person.issue_link(revoked.id)
        await service.send(revoked.id, "revoke")
        resent = await factory.invite()
        old_link = await person.issue_link(resent.id)
        await service.send(resent.id, "resend")
        expired = await factory.invite()
        expired_link = await person.issue_link(expired.id)
        valid = await factory.invite()
        valid_link = await person.issue_link(valid.id)
        other_purpose = "/einladung/" + person.signer._serializer("registration-step").dumps(links.new_token())
        pages = {
            "unknown": await person.get("/einladung/" + person.signer.sign("invitation-link", links.new_token())),
            "revoked": await person.get(revoked_link),
            "resent": await person.get(old_link),
            "tampered": await person.get(valid_link[:-3] + ("aaa" if not valid_link.endswith("aaa") else "bbb")),
            "other purpose": await person.get(other_purpose),
            "garbage": await person.get("/einladung/" + "x" * 600),
        }
        clock.advance(hours=721)  # no sweep has run: the check is against the database row
        pages["expired"] = await person.get(expired_link)
        # The language switch's way back names the path asked for, which the asker knows anyway.
        bodies = {name: re.sub(r'"X-CSRFToken": "[^"]+"|value="[^"]+"|zurueck=[^"]+', "", p.text) for name, p in pages.items()}
        assert {p.status_code for p in pages.values()} == {404}
        assert len(set(bodies.values())) == 1, "every invalid link must show the same page"
        assert "neue Einladung" in pages["unknown"].text
        # People who already registered find the way to the login (issue 11, defect 2).
        assert 'href="/anmelden"' in pages["unknown"].text and "bereits registriert" in pages["unknown"].text
        assert (await person.post(expired_link)).status_code == 404


async def test_the_registration_cannot_skip_or_replay_steps(settings, factory, db, clock):
    record = await factory.invite()
    async with running_app(settings, clock) as (_, client):
        person = Invitee(client, db, clock, settings.secret_key)
        await person.redeem(await person.issue_link(record.id))
        for path in ["/registrierung/aktivierung", "/registrierung/geraet", "/registrierung/glueckwunsch"]:
            response = await person.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/registrierung/daten"
        jump = await person.post("/registrierung/aktivierung")
        assert jump.status_code == 409
        assert await db.fetch(AuditEvent.select().where(AuditEvent.event == "activation_code_issued")) == []
        assert (await person.complete_profile()).status_code == 303
        assert await state_of(db, record.id) == "in_progress"
        replay = await person.complete_profile(first_name="Mallory")
        assert replay.status_code == 409
        name = await db.fetch_one(Account.select(Account.first_name).where(Account.id == record.account_id))
        assert name["first_name"] == "Bernhard"
        back = await person.get("/registrierung/daten")
        assert back.status_code == 303 and back.headers["location"] == "/registrierung/geraet"


async def test_personal_data_is_validated_and_the_email_cannot_be_changed(settings, factory, db, clock):
    record = await factory.invite(email="b.tester@abc.de")
    async with running_app(settings, clock) as (_, client):
        person = Invitee(client, db, clock, settings.secret_key)
        await person.redeem(await person.issue_link(record.id))
        page = await person.get("/registrierung/daten")
        assert "b.tester@abc.de" in page.text and 'name="email"' not in page.text
        bad = await person.complete_profile(first_name="", phone="call me\nnow")
        assert bad.status_code == 422
        assert "Bitte geben Sie den Vornamen ein." in bad.text and "Telefonnummer" in bad.text
        assert 'value="Tester"' in bad.text
        switch = await person.complete_profile(email="attacker@example.org")
        assert switch.status_code == 422 and "unerwartete Felder" in switch.text
        assert await state_of(db, record.id) == "invited"
        ok = await person.complete_profile(phone="+49 89 1234-56")
        assert ok.status_code == 303
    account = await db.fetch_one(Account.select().where(Account.id == record.account_id))
    assert (account["email"], account["phone"], account["last_name"]) == ("b.tester@abc.de", "+49 89 1234-56", "Tester")


@pytest.mark.parametrize(
    ("final_event", "status", "message"),
    [
        # Revoking ends the registration session (end_sessions): the person is logged out.
        ("revoke", 401, "Bitte melden Sie sich an, um diese Seite zu sehen."),
        # Expiry ends the link and the registration session it opened (INV-9).
        ("expire", 401, "Bitte melden Sie sich an"),
    ],
)
async def test_a_closed_registration_says_so(settings, factory, db, clock, service, final_event, status, message):
    record = await factory.invite()
    async with running_app(settings, clock) as (_, client):
        person = Invitee(client, db, clock, settings.secret_key)
        await person.redeem(await person.issue_link(record.id))
        await service.send(record.id, final_event)
        response = await person.get("/registrierung/", follow_redirects=True, headers={"accept": "text/html"})
        assert response.status_code == status
        assert message in response.text.replace("\u00ad", "")  # headings carry soft hyphens
        assert "Glückwunsch" not in response.text


async def test_cookies_are_secure_outside_development(settings, factory, db, clock):
    import dataclasses

    production = dataclasses.replace(settings, environment="production", smtp_host="127.0.0.1")
    record = await factory.invite()
    async with running_app(production, clock, base_url="https://test") as (_, client):  # Secure cookies need https
        person = Invitee(client, db, clock, settings.secret_key)
        link = await person.issue_link(record.id)
        page = await client.get(link)
        csrf_cookie = page.headers["set-cookie"]
        assert "csrftoken=" in csrf_cookie and "Secure" in csrf_cookie
        person.csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
        started = await client.post(link, data={"_csrf_token": person.csrf})
        session_cookie = started.headers["set-cookie"]
        assert session_cookie.startswith(f"__Host-{SESSION_COOKIE}=")  # SES-5: the production name
        for attribute in ("Secure", "HttpOnly", "SameSite=lax"):
            assert attribute.lower() in session_cookie.lower()
