"""Without SMTP, development mails land in the Entwicklungs-Postfach: listed newest
first, readable with working links, and the page does not exist in production."""

from __future__ import annotations

import dataclasses
import re

import pytest

from core.settings import Settings, SettingsError
from markupsafe import escape

from db import links
from db.tables import DevMail, Outbox
from jobs.outbox import dispatch_due_mail, message_id
from core.signing import Signer
from tests.conftest import TEST_SECRET
from tests.support.app import running_app
from tests.support import roles

HTML = {"accept": "text/html"}
LOOPBACK = ("127.0.0.1", 50000)


@pytest.fixture
def deliver(db, settings, clock, registry):
    async def run():
        return await dispatch_due_mail(db, settings, clock, registry, Signer(TEST_SECRET))

    return run


async def test_without_smtp_mails_go_to_the_development_mailbox(factory, db, settings, clock, deliver):
    assert settings.smtp_host == "" and settings.is_development
    record = await factory.invite(email="b.tester@example.org")
    result = await deliver()
    assert result.sent == 1
    [mail] = await db.fetch(DevMail.select())
    [row] = await db.fetch(Outbox.select())
    assert row["status"] == "sent" and mail["outbox"] == row["id"]
    assert mail["recipient"] == "b.tester@example.org"
    assert mail["subject"] == "Ihre Einladung zum Partnerportal"
    assert mail["message_id"] == message_id(row["id"], settings.mail_from)
    assert "720 Stunden" in mail["text"] and "Registrierung fortsetzen" in mail["html"]
    signed = re.search(r"http://test/einladung/(\S+)", mail["text"]).group(1)
    token = Signer(TEST_SECRET).unsign("invitation-link", signed)
    assert (await links.find_valid(db, token, clock.now(), roles.link_open())).instance_id == record.id
    assert (await deliver()).handled == 0  # sent once


async def test_the_page_lists_newest_first_and_shows_a_mail_with_its_link(factory, db, settings, clock, deliver):
    await factory.invite(email="erste@example.org")
    await deliver()
    clock.advance(minutes=5)
    await factory.invite(email="zweite@example.org")
    await deliver()
    first, second = await db.fetch(DevMail.select().order_by(DevMail.id))
    async with running_app(settings, clock, client=LOOPBACK) as (_, client):
        listing = await client.get("/dev/postfach")
        assert listing.status_code == 200
        page = listing.text
        assert "<h1>Entwicklungs-Postfach</h1>" in page
        assert page.index("zweite@example.org") < page.index("erste@example.org")
        assert "Ihre Einladung zum Partnerportal" in page and "05.01.2026, 10:05 Uhr" in page
        assert f'href="/dev/postfach/{first["id"]}"' in page

        detail = await client.get(f"/dev/postfach/{first['id']}")
        assert detail.status_code == 200
        link = re.search(r"http://test/einladung/[^\s<\"]+", first["text"]).group(0)
        assert f'<a href="{link}">{link}</a>' in detail.text
        assert "720 Stunden" in detail.text and "<pre" not in detail.text
        assert "erste@example.org" in detail.text and str(escape(first["message_id"])) in detail.text
        assert f'href="/dev/postfach/{first["id"]}/html"' in detail.text
        # The link leads to the invitation page of this app (a GET that changes nothing).
        assert (await client.get(link.removeprefix("http://test"), headers=HTML)).status_code == 200

        html = await client.get(f"/dev/postfach/{first['id']}/html")
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert ">Registrierung fortsetzen</a>" in html.text
        assert "script-src 'self'" in html.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in html.headers["content-security-policy"]

        assert (await client.get(f"/dev/postfach/{second['id'] + 100}", headers=HTML)).status_code == 404


async def test_an_empty_mailbox_says_so(settings, db):
    async with running_app(settings, client=LOOPBACK) as (_, client):
        page = await client.get("/dev/postfach")
        assert page.status_code == 200 and "Es sind noch keine E-Mails eingegangen." in page.text


@pytest.mark.parametrize(
    "changes",
    [{"environment": "production", "smtp_host": "mail.example.org"}, {"smtp_host": "mail.example.org"}],
    ids=["production", "smtp-configured"],
)
async def test_the_mailbox_does_not_exist_outside_development_without_smtp(factory, db, settings, clock, deliver, changes):
    await factory.invite()
    await deliver()
    [mail] = await db.fetch(DevMail.select(DevMail.id))
    async with running_app(dataclasses.replace(settings, **changes), clock, client=LOOPBACK) as (_, client):
        for path in ["/dev/postfach", f"/dev/postfach/{mail['id']}", f"/dev/postfach/{mail['id']}/html"]:
            response = await client.get(path, headers=HTML)
            assert response.status_code == 404, path
            assert "Diese Seite gibt es nicht." in response.text
            assert "Einladung" not in response.text


@pytest.mark.parametrize("peer", ["192.0.2.10", "10.0.0.7", "::ffff:192.0.2.10", "testclient"])
async def test_the_mailbox_answers_only_loopback_clients_inv_1(factory, db, settings, clock, deliver, peer):
    """INV-1: its mails carry live registration links; another machine must not read them."""
    await factory.invite()
    await deliver()
    [mail] = await db.fetch(DevMail.select(DevMail.id))
    async with running_app(settings, clock, client=(peer, 4711)) as (_, client):
        for path in ["/dev/postfach", f"/dev/postfach/{mail['id']}", f"/dev/postfach/{mail['id']}/html"]:
            response = await client.get(path, headers=HTML)
            assert response.status_code == 404, path
            assert "Einladung" not in response.text


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1"])
async def test_loopback_clients_read_the_mailbox(settings, db, peer):
    async with running_app(settings, client=(peer, 4711)) as (_, client):
        assert (await client.get("/dev/postfach")).status_code == 200


async def test_a_setting_opens_the_mailbox_to_other_clients(factory, db, settings, clock, deliver):
    await factory.invite(email="offen@example.org")
    await deliver()
    opened = dataclasses.replace(settings, dev_mailbox_remote=True)
    async with running_app(opened, clock, client=("192.0.2.10", 4711)) as (_, client):
        page = await client.get("/dev/postfach")
        assert page.status_code == 200 and "offen@example.org" in page.text
    # Only in development: production has no mailbox, whatever the setting says.
    production = dataclasses.replace(opened, environment="production", smtp_host="mail.example.org")
    async with running_app(production, clock, client=LOOPBACK) as (_, client):
        assert (await client.get("/dev/postfach", headers=HTML)).status_code == 404


async def test_production_never_writes_mails_with_links_to_the_database_rel_2(factory, db, settings, clock, registry):
    """REL-2, INV-1: production settings without a mail server cannot exist (every command
    and every changed copy is refused), so no mail with a link waits in the database."""
    with pytest.raises(ValueError, match="production needs a mail server"):
        dataclasses.replace(settings, environment="production", smtp_host="")
    with pytest.raises(SettingsError, match="PARTNERPORTAL_SMTP_HOST: production needs a mail server"):
        Settings.from_env({"PARTNERPORTAL_ENVIRONMENT": "production", "PARTNERPORTAL_SECRET_KEY": TEST_SECRET})
