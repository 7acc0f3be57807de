"""The Nutzerverwaltung sorted by name, page by page: every instance exactly once, in order.

The order is last name, then account, then instance (an account can have several
instances); instances without an account come first, as an empty name (db/people.py)."""

from __future__ import annotations

import pytest

from db import people
from db.tables import Account
from web.controllers.users import expiry_events


async def _account(db, organisation_id: int, last_name: str, email: str) -> int:
    rows = await db.write([Account.insert(Account(organisation=organisation_id, email=email, role="staff",
                                                  first_name="Eva", last_name=last_name)).returning(Account.id)])
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
        rows.append((last_name, account_id, await _instance(service, organisation_id, account_id, email)))
        first_abel = first_abel or ((account_id, email) if last_name == "Abel" else None)
        stranger = await _account(db, other_id, "Abel", f"other{number}@example.org")
        await _instance(service, other_id, stranger, f"other{number}@example.org")
    # The first Abel's second instance, started after the other Abels: it stays with its account.
    rows.append(("Abel", first_abel[0], await _instance(service, organisation_id, *first_abel)))
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
    account (organisation, last_name, id) instead of sorting the organisation's rows.
    PostgreSQL: the index exists on exactly those columns (with a few rows its planner
    would rightly prefer a sort, so the plan cannot show it here)."""
    from db.engine import Sql
    from db.tables import FlowInstance

    if not db.is_sqlite:
        row = await db.fetch_one(Sql(Account, "SELECT indexdef FROM pg_indexes WHERE indexname = 'account_org_name'"))
        assert row["indexdef"].endswith("(organisation, last_name, id)"), row
        return
    for cursor in (None, ("Abel", 7, 9)):
        rows, arguments = people._name_rows(db, 1, [], [], cursor, searching=False, filtered=False, page_size=50)
        sql, events = people._page_sql(expiry_events(service), rows, people._NAME_PAGE_ORDER)
        plan = await db.explain(Sql(FlowInstance, sql, *events, *arguments))
        assert "SEARCH a USING INDEX account_org_name (organisation=?" in plan, plan
        assert "SCAN fi" not in plan and "flow_instance_org" not in plan, plan
