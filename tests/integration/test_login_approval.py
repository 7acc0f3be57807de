"""PIN-6 (with PIN-3, PIN-4, LIM-1): login approval that resists push bombing, played as an
attacker who knows only the victim's e-mail address. Every browser here is its own cookie
jar with its own client address, as the probe's were."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from itsdangerous import URLSafeTimedSerializer

from db import people
from db.engine import Database
from db.tables import AppRequestNonce, AuditEvent, Device, LoginChallenge
from tests.integration.test_twofactor import PIN, activated, login_request, without_secrets
from tests.support.admin import AdminBrowser, login_session
from tests.support.app import running_app
from tests.support.invitee import Invitee
from web.auth import SESSION_COOKIE
from web.known_browser import COOKIE as KNOWN_BROWSER, SALT
from workflows.login_approval import start_login
from workflows.twofactor import Limits

EMAIL = "b.tester@abc.de"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
ATTACK_TRIALS = 100


class Browser:
    """One browser: own cookies, own address, a User-Agent of its choice."""

    def __init__(self, client: httpx.AsyncClient, db, clock, secret_key: str):
        self.client = client
        self.person = Invitee(client, db, clock, secret_key)

    async def start(self, email: str = EMAIL) -> tuple[str, str, str]:
        """Starts a login; (public id, number shown, the waiting page)."""
        await self.person.get("/anmelden")
        started = await self.person.post("/anmelden", data={"username": email})
        assert started.status_code == 303, started.text
        page = await self.person.get(started.headers["location"])
        number = re.search(r'id="login-number"[^>]*>(\d{3} \d{3})<', page.text).group(1)
        return started.headers["location"].rsplit("/", 1)[1], number.replace(" ", ""), page.text

    async def finish(self, public_id: str) -> httpx.Response:
        return await self.person.post(f"/anmelden/weiter/{public_id}")


@asynccontextmanager
async def browser(app, db, clock, settings, ip: str, user_agent: str = FIREFOX):
    transport = httpx.ASGITransport(app=app, client=(ip, 4711))
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers={"user-agent": user_agent}) as client:
        yield Browser(client, db, clock, settings.secret_key)


def logged_in(response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers["location"] == "/" and bool(response.cookies.get(SESSION_COOKIE))


async def challenge(db, public_id: str) -> dict:
    return await db.fetch_one(LoginChallenge.select().where(LoginChallenge.public_id == public_id))


async def first_login(person: Invitee, app) -> None:
    """The victim's usual browser: one successful login makes it known."""
    public_id, number = await login_request(person, EMAIL)
    await app.answer((await app.requests()).json()["requests"][0], pin=PIN, number=number)
    assert logged_in(await person.post(f"/anmelden/weiter/{public_id}"))
    assert person.client.cookies.get(KNOWN_BROWSER)


# -- the number --------------------------------------------------------------------------


async def test_pin6_an_approval_without_the_right_number_is_refused_and_ends_the_request(settings, factory, db, clock):
    async with running_app(settings, clock) as (app_, client):
        record, person, app = await activated(settings, factory, db, clock, client)
        public_id, number = await login_request(person, EMAIL)
        item = (await app.requests()).json()["requests"][0]
        assert "number" not in item  # the app cannot show it: only the browser can

        missing = await app.answer(item, pin=PIN, number=None)
        assert missing.status_code == 422 and missing.json()["field"] == "number"
        assert (await challenge(db, public_id))["status"] == "pending"  # nothing checked yet, nothing ended

        wrong = f"{(int(number) + 1) % 10**6:06d}"
        refused = await app.answer(item, pin=PIN, number=wrong)
        assert refused.status_code == 422 and refused.json()["ended"] is True and refused.json()["field"] == "number"
        assert (await challenge(db, public_id))["status"] == "wrong_number"
        # The right number afterwards is too late: the request ended with the wrong one.
        assert (await app.answer(item, pin=PIN, number=number)).status_code == 409
        ended = await person.post(f"/anmelden/weiter/{public_id}")
        assert ended.status_code == 409 and "andere Zahl" in ended.text and SESSION_COOKIE not in ended.cookies
        audit = await db.fetch(AuditEvent.select().where(AuditEvent.event == "login_number_wrong"))
        assert len(audit) == 1 and audit[0]["instance"] == record.id and number not in str(audit) and wrong not in str(audit)

        # A signature over one number does not carry another (the number is signed).
        public_id, number = await login_request(person, EMAIL)
        item = (await app.requests()).json()["requests"][0]
        body = app.answer_body(item, PIN, "approve", wrong)
        body["number"] = number
        assert (await client.post(f"/api/app/requests/{item['id']}/answer", json=body)).status_code == 401
        # The person types what the page shows, with or without the space.
        shown = f"{number[:3]} {number[3:]}"
        assert (await app.answer(item, pin=PIN, number=shown)).json() == {"status": "approved"}
        assert logged_in(await person.post(f"/anmelden/weiter/{public_id}"))


async def test_pin6_push_bombing_attack_never_logs_the_attacker_in(settings, factory, db, clock):
    """The probe's attack, 100 times: an attacker floods requests from separate cookie jars,
    with the victim's kind of browser; the victim, who cannot tell the entries apart, types
    the number of their own page into them, in random order, until one is approved."""
    rng = random.Random(20261202)
    attacker_logins = victim_logins = victim_pending = typed_into_attackers = 0
    async with running_app(settings, clock) as (app_, client):
        _, victim, app = await activated(settings, factory, db, clock, client)
        await first_login(victim, app)
        for trial in range(ATTACK_TRIALS):
            clock.advance(hours=25)  # each trial starts with fresh limits
            async with AsyncExitStack() as stack:
                async def attack() -> tuple[Browser, str]:
                    jar = await stack.enter_async_context(browser(app_, db, clock, settings, ip=f"198.51.100.{rng.randint(1, 254)}"))
                    return jar, (await jar.start())[0]

                attacks = [await attack() for _ in range(rng.randint(1, 5))]
                victim_id, victim_number = await login_request(victim, EMAIL)
                attacks += [await attack() for _ in range(rng.randint(0, 3))]
                victim_pending += (await challenge(db, victim_id))["status"] == "pending"
                listed = (await app.requests()).json()["requests"]
                for item in rng.sample(listed, len(listed)):
                    answer = await app.answer(item, pin=PIN, number=victim_number)
                    if answer.status_code == 200:
                        break
                    assert answer.status_code == 422 and answer.json()["ended"] is True, answer.text
                    typed_into_attackers += 1
                for jar, public_id in attacks:
                    attacker_logins += logged_in(await jar.finish(public_id))
                victim_logins += logged_in(await victim.post(f"/anmelden/weiter/{victim_id}"))
    assert attacker_logins == 0
    # Not vacuous: the victim typed their number into attacker requests many times, and
    # still logged in whenever their own request was waiting.
    assert typed_into_attackers >= ATTACK_TRIALS // 2
    assert victim_logins == victim_pending and victim_pending >= ATTACK_TRIALS // 2


# -- few requests, newest first ----------------------------------------------------------


async def test_pin6_at_most_three_requests_wait_newest_first_with_time_browser_and_address(settings, factory, db, clock):
    settings = dataclasses.replace(settings, login_starts_per_account=100)
    async with running_app(settings, clock) as (app_, client):
        _, _, app = await activated(settings, factory, db, clock, client)
        started = []
        async with AsyncExitStack() as stack:
            for i in range(5):
                jar = await stack.enter_async_context(browser(app_, db, clock, settings, ip=f"203.0.113.{i + 1}"))
                started.append((jar, (await jar.start())[0]))
                clock.advance(seconds=1)
            listed = (await app.requests()).json()["requests"]
            assert [r["id"] for r in listed] == [public_id for _, public_id in started[:1:-1]]
            assert [r["ip"] for r in listed] == ["203.0.113.5", "203.0.113.4", "203.0.113.3"]
            assert {r["browser"] for r in listed} == {"Firefox auf Windows"}
            assert listed[0]["created_at"] > listed[1]["created_at"] > listed[2]["created_at"]
            # The oldest two ended; their browsers are told so, in the same words as an expiry.
            for jar, public_id in started[:2]:
                assert (await challenge(db, public_id))["status"] == "superseded"
                ended = await jar.finish(public_id)
                assert ended.status_code == 409 and "ersetzt" in ended.text


async def test_pin6_parallel_starts_leave_at_most_three_waiting(settings, factory, db, clock):
    """LIM-1: thirty starts at once (each in its own browser) still leave three waiting."""
    settings = dataclasses.replace(settings, login_starts_per_account=100)
    async with running_app(settings, clock) as (app_, client):
        record, _, _ = await activated(settings, factory, db, clock, client)
        async with AsyncExitStack() as stack:
            jars = [await stack.enter_async_context(browser(app_, db, clock, settings, ip=f"203.0.113.{i + 1}")) for i in range(30)]
            await asyncio.gather(*[jar.start() for jar in jars])
        rows = await db.fetch(LoginChallenge.select(LoginChallenge.status, LoginChallenge.number)
                              .where(LoginChallenge.account == record.account_id))
    assert len(rows) == 30
    assert sum(r["status"] == "pending" for r in rows) == 3
    assert len({r["number"] for r in rows}) == 30  # every number in use is different


# -- throttling --------------------------------------------------------------------------


async def approvable(db, public_id: str) -> bool:
    return (await challenge(db, public_id))["account"] is not None


async def test_pin6_login_starts_per_account_are_limited_with_growing_waits(settings, factory, db, clock):
    async with running_app(settings, clock) as (app_, client):
        await activated(settings, factory, db, clock, client)
        async with browser(app_, db, clock, settings, ip="198.51.100.7") as stranger:
            async def starts(n: int) -> list[bool]:
                return [await approvable(db, (await stranger.start())[0]) for _ in range(n)]

            assert await starts(6) == [True] * 5 + [False]  # 5 per 15 minutes
            _, _, refused_page = await stranger.start()
            clock.advance(minutes=14)
            assert await starts(1) == [False]
            clock.advance(minutes=1)  # the first wait: the window
            assert await starts(6) == [True] * 5 + [False]
            clock.advance(minutes=15)
            assert await starts(1) == [False]  # the second wait is twice as long
            clock.advance(minutes=15)
            assert await starts(6) == [True] * 5 + [False]
            clock.advance(minutes=59)
            assert await starts(1) == [False]  # then four times
            clock.advance(minutes=1)
            assert await starts(1) == [True]
        # A refused start looks exactly like an unknown user's: the same neutral page.
        async with browser(app_, db, clock, settings, ip="198.51.100.8") as other:
            _, _, unknown_page = await other.start("niemand@abc.de")
    assert without_secrets(refused_page) == without_secrets(unknown_page)


async def test_pin6_the_account_limit_holds_under_a_hundred_parallel_starts(settings, factory, db, clock):
    """LIM-1: 100 starts at once for one account, from 100 browsers: exactly 5 count."""
    settings = dataclasses.replace(settings, login_starts_per_ip=10_000)
    async with running_app(settings, clock) as (app_, client):
        record, _, _ = await activated(settings, factory, db, clock, client)
        async with AsyncExitStack() as stack:
            jars = [await stack.enter_async_context(browser(app_, db, clock, settings, ip=f"198.51.{i // 250}.{i % 250 + 1}")) for i in range(100)]
            await asyncio.gather(*[jar.start() for jar in jars])
    rows = await db.fetch(LoginChallenge.select(LoginChallenge.account))
    assert len(rows) == 100
    assert sum(r["account"] == record.account_id for r in rows) == 5


async def test_pin6_the_address_limit_holds_under_a_hundred_parallel_starts(settings, factory, db, clock):
    """LIM-1: 100 starts at once from one address, for 100 different names: 5 count."""
    settings = dataclasses.replace(settings, login_starts_per_ip=5)
    async with running_app(settings, clock) as (app_, client):
        async with browser(app_, db, clock, settings, ip="198.51.100.9") as jar:
            await jar.person.get("/anmelden")
            responses = await asyncio.gather(*[jar.person.post("/anmelden", data={"username": f"n{i}@abc.de"}) for i in range(100)])
    assert {r.status_code for r in responses} == {303}
    rows = await db.fetch(LoginChallenge.select(LoginChallenge.requester_key))
    assert len(rows) == 100 and sum(r["requester_key"] != "" for r in rows) == 5


async def test_pin6_a_flood_by_strangers_does_not_stop_the_persons_usual_browser(settings, factory, db, clock):
    async with running_app(settings, clock) as (app_, client):
        record, victim, app = await activated(settings, factory, db, clock, client)
        await first_login(victim, app)
        async with AsyncExitStack() as stack:
            for i in range(40):
                jar = await stack.enter_async_context(browser(app_, db, clock, settings, ip=f"198.51.100.{i + 1}"))
                await jar.start()
            # The flood used up the account's limit: a new browser gets nothing approvable ...
            fresh = await stack.enter_async_context(browser(app_, db, clock, settings, ip="192.0.2.99"))
            assert not await approvable(db, (await fresh.start())[0])
            # ... nor does a browser with a forged or someone else's "known browser" cookie.
            forged = await stack.enter_async_context(browser(app_, db, clock, settings, ip="192.0.2.98"))
            foreign = URLSafeTimedSerializer("x" * 40, salt=SALT).dumps([record.account_id])
            forged.client.cookies.set(KNOWN_BROWSER, foreign, path="/anmelden")
            assert not await approvable(db, (await forged.start())[0])
            other = URLSafeTimedSerializer(settings.secret_key, salt=SALT).dumps([record.account_id + 1000])
            forged.client.cookies.set(KNOWN_BROWSER, other, path="/anmelden")
            assert not await approvable(db, (await forged.start())[0])
        # The person's usual browser still logs in, with the number its page shows.
        public_id, number = await login_request(victim, EMAIL)
        assert await approvable(db, public_id)
        item = (await app.requests()).json()["requests"][0]
        assert item["id"] == public_id  # newest first: on top, not buried
        assert (await app.answer(item, pin=PIN, number=number)).json() == {"status": "approved"}
        assert logged_in(await victim.post(f"/anmelden/weiter/{public_id}"))


# -- equal work for known and unknown usernames -------------------------------------------


async def test_pin6_known_and_unknown_usernames_run_the_same_statements(settings, factory, db, clock, service, monkeypatch):
    """Equal work, shown exactly: the same SQL statements in the same order (only the
    values differ), so no difference in time can come from the code path. How long the
    database takes for those values is measured by `python -m bench.login_timing`, not
    asserted here (a timed assertion fails on a loaded machine)."""
    async with running_app(settings, clock) as (_, client):
        await activated(settings, factory, db, clock, client)
    statements: list[str] = []
    compile_ = Database._compile

    def recording(self, query):
        compiled = compile_(self, query)
        statements.extend(sql for sql, _ in compiled)
        return compiled

    monkeypatch.setattr(Database, "_compile", recording)
    limits = Limits.from_settings(settings)
    runs = {}
    for name in (EMAIL, "niemand@abc.de", "B.Tester@ABC.de", "noch.niemand@abc.de"):
        statements.clear()
        await start_login(service, name, "192.0.2.1", "Firefox auf Windows", frozenset(), limits)
        runs[name] = list(statements)
    assert runs[EMAIL] == runs["niemand@abc.de"] and len(runs[EMAIL]) >= 6
    assert runs["B.Tester@ABC.de"] == runs["noch.niemand@abc.de"]  # a second start: the rows exist


# -- "Das war ich nicht" -----------------------------------------------------------------


async def test_pin6_das_war_ich_nicht_is_audited_shown_to_admins_and_holds_new_requests(settings, factory, db, clock):
    async with running_app(settings, clock) as (app_, client):
        record, victim, app = await activated(settings, factory, db, clock, client)
        await first_login(victim, app)
        async with browser(app_, db, clock, settings, ip="198.51.100.66") as attacker:
            attack_id, _, _ = await attacker.start()
            own_id, _ = await login_request(victim, EMAIL)
            attack = next(r for r in (await app.requests()).json()["requests"] if r["id"] == attack_id)
            assert (await app.answer(attack, pin=PIN, decision="not_me")).json() == {"status": "not_me"}
            assert (await attacker.finish(attack_id)).status_code == 409
            # Every waiting request of the account ends, and none can start for 15 minutes,
            # not even from the person's usual browser.
            assert (await challenge(db, own_id))["status"] == "denied"
            assert not await approvable(db, (await attacker.start())[0])
            held_id, _ = await login_request(victim, EMAIL)
            assert not await approvable(db, held_id)
            assert (await app.requests()).json()["requests"] == []
            clock.advance(minutes=15)
            public_id, number = await login_request(victim, EMAIL)
            assert await approvable(db, public_id)
        events = await db.fetch(AuditEvent.select().where(AuditEvent.event == "login_not_me"))
        assert len(events) == 1 and events[0]["instance"] == record.id
        assert json.loads(events[0]["details"]) == {"request_ip": "198.51.100.66", "request_browser": "Firefox auf Windows", "blocked_minutes": 15}
        # The organisation's admins see it in the person's timeline.
        admin_id = await factory.account(record.organisation_id, email="chefin@abc.de", role="admin")
        client.cookies.clear()
        admin = AdminBrowser(client, await login_session(db, clock, admin_id, record.organisation_id))
        detail = await admin.get(f"/nutzerverwaltung/{record.id}")
        assert detail.status_code == 200
        assert "Anmeldeanfrage gemeldet: „Das war ich nicht“" in detail.text
        assert "Firefox auf Windows, IP-Adresse 198.51.100.66" in detail.text
    assert [e["event"] for e in await people.security_events(db, record.id, ("login_not_me",))] == ["login_not_me"]


# -- the race in the waiting page -----------------------------------------------------------


async def test_pin6_an_approval_between_consume_and_re_read_still_logs_in(settings, factory, db, clock, monkeypatch):
    """The walkthrough's race, made deterministic: the waiting page's consume step finds
    the request still pending, the app's approval commits, then the page reads the
    request again. It must log in, not say "Die Anmeldung wurde nicht abgeschlossen"."""
    from web.controllers import login as login_controller

    async with running_app(settings, clock) as (_, client):
        _, person, app = await activated(settings, factory, db, clock, client)
        public_id, number = await login_request(person, EMAIL)
        item = (await app.requests()).json()["requests"][0]
        consume = login_controller.finish_login
        consumed: list[int | None] = []

        async def approval_commits_after_consume(service, challenge_id, token):
            account = await consume(service, challenge_id, token)
            consumed.append(account)
            if len(consumed) == 1:
                assert (await app.answer(item, pin=PIN, number=number)).json() == {"status": "approved"}
            return account

        monkeypatch.setattr(login_controller, "finish_login", approval_commits_after_consume)
        poll = await person.post(f"/anmelden/weiter/{public_id}", headers={"HX-Request": "true"})
        assert consumed[0] is None  # the interleaving happened as described
        assert poll.status_code == 200 and poll.headers["HX-Redirect"] == "/"
        assert poll.cookies.get(SESSION_COOKIE)


# -- replayed app requests ------------------------------------------------------------------


async def test_pin6_signed_app_requests_cannot_be_replayed_within_their_clock_window(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        _, person, app = await activated(settings, factory, db, clock, client)
        await login_request(person, EMAIL)
        listing = app.list_body()
        assert (await client.post("/api/app/requests", json=listing)).status_code == 200
        replay = await client.post("/api/app/requests", json=listing)
        assert replay.status_code == 401 and "bereits gesendet" in replay.json()["error"]
        # A captured answer with a wrong PIN, sent again, would count a second failure
        # (five lock the device): the nonce refuses it before the PIN is checked.
        item = (await app.requests()).json()["requests"][0]
        wrong = app.answer_body(item, "111333", "deny", None)
        first = await client.post(f"/api/app/requests/{item['id']}/answer", json=wrong)
        assert first.status_code == 401 and first.json()["field"] == "pin"
        again = await client.post(f"/api/app/requests/{item['id']}/answer", json=wrong)
        assert again.status_code == 401 and "bereits gesendet" in again.json()["error"]
        assert (await db.fetch_one(Device.select(Device.pin_failures)))["pin_failures"] == 1
        # Nonces are kept only for the window: after it, the next request clears them.
        clock.advance(minutes=6)
        assert (await client.post("/api/app/requests", json=listing)).status_code == 401  # too old now anyway
        assert (await app.requests()).status_code == 200
        assert len(await db.fetch(AppRequestNonce.select())) == 1
