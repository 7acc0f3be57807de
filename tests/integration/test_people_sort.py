"""The Nutzerverwaltung sorted by name, page by page: every instance exactly once, in order.

The order is the German one of last name, then first name (db/name_order.py), then
account, then instance (an account can have several instances); instances without an
account come first, as an empty name (db/people.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from db import accounts, people
from db.name_order import name_key
from db.tables import Account
from web.controllers.users import expiry_events

_NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


async def _account(db, organisation_id: int, last_name: str, email: str, first_name: str = "Eva") -> int:
    # As the app writes an account (invitation, CSV import): with the names' sort key.
    rows = await db.write([accounts.insert_step(organisation_id, "staff", "", first_name, last_name, email, now=_NOW)])
    return rows[0][0]["id"]


async def _instance(service, organisation_id: int, account_id: int | None, email: str | None = None) -> int:
    extra = {"recipient": email} if email else {}
    record, _ = await service.start("onboarding", organisation_id, account_id, actor="admin@test", **extra)
    return record.id


async def _walk(db, service, organisation_id: int, page_size: int, **filters) -> list[int]:
    seen, cursor = [], None
    while True:
        page = await people.list_page(db, organisation_id, sort="name", cursor=cursor, page_size=page_size,
                                      expiry_events=expiry_events(service), **filters)
        assert len(page.rows) <= page_size
        seen += [row.instance_id for row in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            return seen


@pytest.fixture
async def people_with_names(db, service, factory):
    """Equal names, an account with two instances started apart, an empty last name and
    instances without an account, with another organisation's people in between."""
    organisation_id = await factory.organisation()
    other_id = await factory.organisation()
    rows = []  # (last name, account, instance)
    first_abel = None
    for number, last_name in enumerate(["Zander", "Abel", "Müller", "Abel", "", "Müller", "Abel", "Berg"]):
        email = f"p{number}@example.org"
        account_id = await _account(db, organisation_id, last_name, email)
        rows.append((name_key("Eva", last_name), account_id, await _instance(service, organisation_id, account_id, email)))
        first_abel = first_abel or ((account_id, email) if last_name == "Abel" else None)
        stranger = await _account(db, other_id, "Abel", f"other{number}@example.org")
        await _instance(service, other_id, stranger, f"other{number}@example.org")
    # The first Abel's second instance, started after the other Abels: it stays with its account.
    rows.append((name_key("Eva", "Abel"), first_abel[0], await _instance(service, organisation_id, *first_abel)))
    nameless = [("", 0, await _instance(service, organisation_id, None)) for _ in range(3)]
    return organisation_id, [instance for _, _, instance in sorted(nameless + rows)]


@pytest.mark.parametrize("page_size", [1, 2, 3, 50])
async def test_sorted_by_name_every_page_follows_on_and_no_instance_is_lost(db, service, people_with_names, page_size):
    organisation_id, expected = people_with_names
    assert await _walk(db, service, organisation_id, page_size) == expected


async def test_sorted_by_name_with_a_search_keeps_the_order_of_the_matches(db, service, people_with_names):
    organisation_id, expected = people_with_names
    abels = await _walk(db, service, organisation_id, 1, search="abel")
    assert len(abels) == 4 and abels == [i for i in expected if i in set(abels)]


@pytest.mark.parametrize("cursor", ["x", "||", "Abel|abc|1", "Abel|1|", "|-1|2", "Abel|99999999999999999999|1x"])
async def test_a_broken_name_cursor_shows_the_first_page(db, service, people_with_names, cursor):
    organisation_id, expected = people_with_names
    page = await people.list_page(db, organisation_id, sort="name", cursor=cursor, page_size=4,
                                  expiry_events=expiry_events(service))
    assert [row.instance_id for row in page.rows] == expected[:4]


async def test_sorted_by_name_with_a_status_filter_walks_every_page(db, service, people_with_names):
    organisation_id, expected = people_with_names
    state = (await people.list_page(db, organisation_id, page_size=1, expiry_events=expiry_events(service))).rows[0].state
    assert await _walk(db, service, organisation_id, 2, state=state) == expected  # all were just invited
    assert await _walk(db, service, organisation_id, 2, state="no-such-state") == []


async def test_the_name_order_walks_the_account_index_on_both_engines(db, service):
    """SQLite: the plan of a name page (no filter, and from a cursor) reads the index
    account (organisation, name_key, id) instead of sorting the organisation's rows.
    PostgreSQL: the index exists on exactly those columns (with a few rows its planner
    would rightly prefer a sort, so the plan cannot show it here)."""
    from db.engine import Sql
    from db.tables import FlowInstance

    if not db.is_sqlite:
        row = await db.fetch_one(Sql(Account, "SELECT indexdef FROM pg_indexes WHERE indexname = 'account_org_name_key'"))
        assert row["indexdef"].endswith("(organisation, name_key, id)"), row
        return
    for cursor in (None, (name_key("Eva", "Abel"), 7, 9)):
        rows, arguments = people._name_rows(db, 1, [], [], cursor, searching=False, filtered=False, page_size=50)
        sql, events = people._page_sql(expiry_events(service), rows, people._NAME_PAGE_ORDER)
        plan = await db.explain(Sql(FlowInstance, sql, *events, *arguments))
        assert "SEARCH a USING INDEX account_org_name_key (organisation=?" in plan, plan
        assert "SCAN fi" not in plan and "flow_instance_org" not in plan, plan


# (first name, last name) in the order German lists give them (DIN 5007-1): umlauts and
# accents with their base letter ("Müller" as "Muller", so after "Mueller"), "ß" as "ss"
# (equal last names, then by first name), case ignored, a shorter last name before a
# longer one that starts with it.
GERMAN_ORDER = [
    ("Ole", "Dahl"), ("Jan", "de Vries"), ("Anna", "Eber"), ("Piotr", "Łukasik"), ("Zoe", "Mueller"),
    ("Anna", "Müller"), ("Bernd", "Müller"), ("Karl", "Otto"), ("Ayşe", "Özdemir"), ("Uwe", "Pohl"),
    ("Anna", "Straße"), ("Zoe", "Strasse"), ("Ida", "Strasser"), ("Émile", "Zola"), ("Zita", "zur Mühlen"),
]


@pytest.fixture
async def germans(db, service, factory):
    organisation_id = await factory.organisation()
    by_name = {}
    # Written in an order unlike the expected one (ids must not decide it).
    for number, (first, last) in enumerate(reversed(GERMAN_ORDER)):
        email = f"g{number}@example.org"
        account_id = await _account(db, organisation_id, last, email, first_name=first)
        by_name[(first, last)] = await _instance(service, organisation_id, account_id, email)
    return organisation_id, [by_name[name] for name in GERMAN_ORDER]


@pytest.mark.parametrize("page_size", [2, 50])
async def test_names_are_sorted_as_german_lists_sort_them_on_both_engines(db, service, germans, page_size):
    organisation_id, expected = germans
    assert await _walk(db, service, organisation_id, page_size) == expected


async def test_the_registration_and_the_deletion_write_the_key_with_the_names(settings, factory, db, clock):
    """The invited person's own names (registration, profile step) and an anonymised
    person's emptied names sort by what they now are, at once."""
    from tests.support.admin import AdminBrowser, login_session
    from tests.support.app import running_app
    from tests.support.invitee import Invitee

    organisation_id = await factory.organisation()
    admin_id = await factory.account(organisation_id, role="admin")
    first = await factory.invite(organisation_id, "erste@example.org")
    second = await factory.invite(organisation_id, "zweite@example.org")
    token = await login_session(db, clock, admin_id, organisation_id)
    async with running_app(settings, clock) as (_, client):
        person = Invitee(client, db, clock, settings.secret_key)
        await person.redeem(await person.issue_link(first.id))
        assert (await person.complete_profile(first_name="Ärmin", last_name="Öztürk")).status_code == 303
    async with running_app(settings, clock) as (_, client):
        assert (await AdminBrowser(client, token).event(second.id, "delete")).status_code == 303
    keys = {row["id"]: row["name_key"] for row in await db.fetch(Account.select(Account.id, Account.name_key))}
    assert keys[first.account_id] == name_key("Ärmin", "Öztürk") == "ozturk\x01armin"
    assert keys[second.account_id] == name_key("", "") == "\x01"


@pytest.mark.parametrize("cursor", ["\x01|1|1", "a" * 402 + "|1|1", "zz\x00|1|1"])
async def test_a_forged_name_cursor_shows_a_page_in_order_or_the_first(db, service, germans, cursor):
    organisation_id, expected = germans
    page = await people.list_page(db, organisation_id, sort="name", cursor=cursor, page_size=4,
                                  expiry_events=expiry_events(service))
    shown = [row.instance_id for row in page.rows]
    # A key below every name ("\x01") continues from the start; a broken one shows the first page.
    assert shown == expected[:4]


async def test_the_next_page_link_of_the_name_order_carries_its_key_through_the_url(settings, factory, db, clock, service):
    """The cursor holds the key's separator (a control character): the page's link must
    encode it, and the next page must continue right after the last row shown."""
    import html
    import re

    from tests.support.admin import AdminBrowser, login_session
    from tests.support.app import running_app

    organisation_id = await factory.organisation()
    admin_id = await factory.account(organisation_id, role="admin")
    ids = []
    for number in range(people.PAGE_SIZE + 2):  # the admin's own account has no instance
        email = f"m{number}@example.org"
        account_id = await _account(db, organisation_id, "Müller", email, first_name=f"Anna {number:03d}")
        ids.append(await _instance(service, organisation_id, account_id, email))
    token = await login_session(db, clock, admin_id, organisation_id)
    async with running_app(settings, clock) as (_, client):
        admin = AdminBrowser(client, token)
        first = await admin.get("/nutzerverwaltung/", params={"sort": "name"})
        shown = [int(i) for i in re.findall(r'<tr id="person-(\d+)"', first.text)]
        assert shown == ids[:people.PAGE_SIZE]
        (link,) = re.findall(r'<a href="([^"]*cursor=[^"]+)">Weitere Einträge', first.text)
        assert "%01" in link and "\x01" not in link
        second = await admin.get(html.unescape(link))
        assert [int(i) for i in re.findall(r'<tr id="person-(\d+)"', second.text)] == ids[people.PAGE_SIZE:]
