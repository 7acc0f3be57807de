"""The Nutzerverwaltung sorted by name, page by page: every instance exactly once, in order."""

from __future__ import annotations

from db import people
from db.tables import Account
from web.controllers.users import expiry_events


async def _person(db, service, organisation_id: int, last_name: str, email: str) -> int:
    rows = await db.write([Account.insert(Account(organisation=organisation_id, email=email, role="staff",
                                                  first_name="Eva", last_name=last_name)).returning(Account.id)])
    record, _ = await service.start("onboarding", organisation_id, rows[0][0]["id"], actor="admin@test", recipient=email)
    return record.id


async def test_sorted_by_name_every_page_follows_on_and_no_instance_is_lost(db, service, factory):
    organisation_id = await factory.organisation()
    named = []
    for number, last_name in enumerate(["Zander", "Abel", "Müller", "Abel", "Müller", "Abel", "Berg"]):
        named.append((last_name, await _person(db, service, organisation_id, last_name, f"p{number}@example.org")))
    # Instances without an account (the API can start them) have no name: they come first,
    # as an empty name, on both engines, and must not fall out of the later pages.
    nameless = [(await service.start("onboarding", organisation_id, None, actor="admin@test"))[0].id for _ in range(3)]
    expected = nameless + [instance_id for _, instance_id in sorted(named)]

    seen, cursor = [], None
    while True:
        page = await people.list_page(db, organisation_id, sort="name", cursor=cursor, page_size=2,
                                      expiry_events=expiry_events(service))
        seen += [row.instance_id for row in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == expected
