"""History and outbox rows go with their instance and organisation, and anonymisation still
reaches them, although their organisation has no key of its own on PostgreSQL (m0029):
the instance's key cascades."""

from __future__ import annotations

from db.engine import Sql
from db.tables import Organisation, Outbox, TransitionHistory


async def _rows(db, table, column: str, value: int) -> int:
    row = await db.fetch_one(Sql(table, f'SELECT count(*) AS "n" FROM "{table._meta.tablename}" WHERE "{column}" = {{}}', value))
    return row["n"]


async def test_deleting_an_organisation_removes_its_history_and_mail_and_nothing_else(factory, db):
    gone, kept = await factory.organisation(), await factory.organisation()
    await factory.invite(gone)
    await factory.invite(gone)
    await factory.invite(kept)
    for org, count in ((gone, 2), (kept, 1)):
        assert await _rows(db, TransitionHistory, "organisation", org) == count
        assert await _rows(db, Outbox, "organisation", org) == count

    await db.write([Sql(Organisation, 'DELETE FROM "organisation" WHERE "id" = {}', gone)])

    assert await _rows(db, TransitionHistory, "organisation", gone) == 0
    assert await _rows(db, Outbox, "organisation", gone) == 0
    assert await _rows(db, TransitionHistory, "organisation", kept) == 1
    assert await _rows(db, Outbox, "organisation", kept) == 1


async def test_deleting_an_instance_removes_its_history_and_mail(factory, db):
    gone = await factory.invite()
    kept = await factory.invite(gone.organisation_id)

    await db.write([Sql(TransitionHistory, 'DELETE FROM "flow_instance" WHERE "id" = {}', gone.id)])

    assert await _rows(db, TransitionHistory, "instance", gone.id) == 0
    assert await _rows(db, Outbox, "instance", gone.id) == 0
    assert await _rows(db, TransitionHistory, "instance", kept.id) == 1
    assert await _rows(db, Outbox, "instance", kept.id) == 1


async def test_deleting_a_person_anonymises_their_mail_and_keeps_the_history(factory, service, db):
    record = await factory.invite(email="wird.geloescht@example.org")
    other = await factory.invite(record.organisation_id, email="bleibt@example.org")

    await service.send(record.id, "delete", actor="account:1")

    mails = await db.fetch(Outbox.select(Outbox.recipient, Outbox.status).where(Outbox.instance == record.id))
    assert mails == [{"recipient": "", "status": "cancelled"}]
    assert await _rows(db, TransitionHistory, "instance", record.id) == 2
    others = await db.fetch(Outbox.select(Outbox.recipient).where(Outbox.instance == other.id))
    assert others == [{"recipient": "bleibt@example.org"}]
