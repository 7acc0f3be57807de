"""Who is asking, in one statement per request: the session row carries the documents its
person accepted (PRIV-1..3), stamped in the transaction that changed the consent records."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import httpx

from db import consent, sessions
from db.tables import WebSession
from tests.support.admin import AdminBrowser, give_consent, login_session
from tests.support.app import running_app
from web.documents import required_documents

TABLE = "/nutzerverwaltung/"


def record_statements(db) -> list[str]:
    """The SQL text of every statement the app's database handle runs from now on."""
    statements: list[str] = []
    compile_ = db._compile

    def recording(query):
        compiled = compile_(query)
        statements.extend(sql for sql, _ in compiled)
        return compiled

    db._compile = recording
    return statements


async def admin_browser(app, db, clock, factory, organisation_id=None, account_id=None):
    organisation_id = organisation_id or await factory.organisation()
    account_id = account_id or await factory.account(organisation_id, role="admin")
    token = await login_session(db, clock, account_id, organisation_id)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("192.0.2.10", 4711)), base_url="http://test")
    return AdminBrowser(client, token), organisation_id, account_id


async def test_priv3_one_statement_reads_the_session_and_its_consent(settings, factory, db, clock):
    async with running_app(settings, clock) as (app, _):
        admin, _, _ = await admin_browser(app, db, clock, factory)
        async with admin.client:
            assert (await admin.get(TABLE)).status_code == 200
            statements = record_statements(app.state.db)
            assert (await admin.get(TABLE)).status_code == 200
    assert not any("consent_record" in sql for sql in statements), statements
    assert [sql for sql in statements if "web_session" in sql] == [sessions._LOAD_SQL.replace("{}", "?" if db.is_sqlite else "$1")]
    assert len(statements) == 2, statements  # who is asking, and the page


async def test_priv3_a_withdrawal_ends_the_consent_of_the_persons_other_sessions_at_once(settings, factory, db, clock):
    async with running_app(settings, clock) as (app, _):
        first, org, account = await admin_browser(app, db, clock, factory)
        second, _, _ = await admin_browser(app, db, clock, factory, org, account)
        other, _, _ = await admin_browser(app, db, clock, factory, org)  # another person stays unaffected
        async with first.client, second.client, other.client:
            for browser in (first, second, other):
                assert (await browser.get(TABLE)).status_code == 200
                await browser.csrf()
            assert (await first.post("/profil/einwilligung/nutzungsbedingungen/widerrufen")).status_code == 303
            for browser in (first, second):
                asked = await browser.get(TABLE)
                assert asked.status_code == 303 and asked.headers["location"] == "/einwilligung"
            assert (await other.get(TABLE)).status_code == 200
            again = await second.post("/einwilligung", data={"accept_privacy": "ja", "accept_terms": "ja"})
            assert again.status_code == 303
            for browser in (first, second):
                assert (await browser.get(TABLE)).status_code == 200


async def test_priv3_a_session_without_a_stamp_is_stamped_once_from_the_records(settings, factory, db, clock):
    """Sessions from before the stamp existed: nobody is asked again for what they gave."""
    organisation_id = await factory.organisation()
    account_id = await factory.account(organisation_id, role="admin")
    await give_consent(db, clock, account_id, organisation_id)
    token = await sessions.create(db, "login", account_id, organisation_id, clock.now(), timedelta(hours=12))
    assert (await db.fetch_one(WebSession.select(WebSession.accepted_documents)))["accepted_documents"] == ""
    async with running_app(settings, clock) as (app, client):
        admin = AdminBrowser(client, token)
        assert (await admin.get(TABLE)).status_code == 200
        statements = record_statements(app.state.db)
        assert (await admin.get(TABLE)).status_code == 200
    assert (await db.fetch_one(WebSession.select(WebSession.accepted_documents)))["accepted_documents"] == consent.stamp(required_documents())
    assert not any("consent_record" in sql for sql in statements)


async def test_priv3_a_session_without_consent_is_not_stamped_by_asking(settings, factory, db, clock):
    organisation_id = await factory.organisation()
    account_id = await factory.account(organisation_id, role="admin")
    token = await login_session(db, clock, account_id, organisation_id, consent=False)
    async with running_app(settings, clock) as (_, client):
        admin = AdminBrowser(client, token)
        for _ in range(2):
            asked = await admin.get(TABLE)
            assert asked.status_code == 303 and asked.headers["location"] == "/einwilligung"
    assert (await db.fetch_one(WebSession.select(WebSession.accepted_documents)))["accepted_documents"] == ""


async def test_priv3_parallel_withdrawals_renewals_and_logins_leave_every_stamp_true_to_the_records(factory, db, clock):
    """Whatever order 60 parallel changes and new sessions commit in, every live session's
    stamp says what the newest records say (on PostgreSQL the per-account lock orders them)."""
    organisation_id = await factory.organisation()
    account_id = await factory.account(organisation_id)
    required = required_documents()
    await give_consent(db, clock, account_id, organisation_id)
    rng = random.Random(7)

    async def change(action: str):
        documents = required if action == "given" else [rng.choice(required)]
        await db.write(consent.change_steps(db, account_id, organisation_id, documents, action, clock.now(), "192.0.2.1",
                                            f"consent_{action}", required=required))

    async def log_in():
        await sessions.create(db, "login", account_id, organisation_id, clock.now(), timedelta(hours=1), required=required)

    jobs = [rng.choice((lambda: change("given"), lambda: change("withdrawn"), log_in))() for _ in range(60)]
    await asyncio.gather(*jobs)
    records = await consent.history(db, account_id)
    expected = consent.stamp(required) if not consent.missing(records, required) else ""
    stamps = [r["accepted_documents"] for r in await db.fetch(WebSession.select(WebSession.accepted_documents))]
    assert stamps and stamps == [expected] * len(stamps)
