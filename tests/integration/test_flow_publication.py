"""Publishing a flow version through the database: new invitations start on it in every
process, running ones keep theirs, and of two publishers at the same moment exactly
one wins."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from db import flow_versions
from db.engine import Database
from db.tables import AuditEvent, FlowDefinitionSnapshot, Timer
from tests.support.flow_copies import shipped_text
from workflows import flow_snapshots, publication
from workflows.definition import FlowDefinitionError
from workflows.publication import PublishConflict, PublishRefused, publish
from workflows.registry import FlowRegistry
from workflows.service import FlowService

SHORT = shipped_text(version=3, expiry="336h")


async def _expiry_due(db, instance_id: int):
    row = await db.fetch_one(Timer.select(Timer.due_at).where((Timer.instance == instance_id) & (Timer.event == "expire")))
    return row["due_at"]


async def test_new_invitations_start_on_the_published_version_running_ones_keep_theirs(factory, service, db, clock):
    running = await factory.invite()

    result = await publish(db, service.registry, SHORT, "account:1", clock.now())

    assert (result.definition.version, result.previous_version) == (3, 2)
    fresh = await factory.invite()
    assert (running.flow_version, fresh.flow_version) == (2, 3)
    assert await _expiry_due(db, running.id) == clock.now() + timedelta(hours=720)
    assert await _expiry_due(db, fresh.id) == clock.now() + timedelta(hours=336)


async def test_another_process_follows_the_publication_without_a_restart(service, db, database_url, clock):
    other_db = Database(database_url)
    await other_db.start(pool_size=2)
    try:
        other = FlowRegistry.from_directory()  # a second process, started before the publication
        await flow_snapshots.sync(other_db, other)
        assert other.onboarding().version == 2

        await publish(db, service.registry, SHORT, "account:1", clock.now())

        assert await publication.refresh(other_db, other) == [("onboarding", 3)]
        assert other.onboarding().version == 3
        assert other.onboarding().timer_for("expiry").after == timedelta(hours=336)
        assert await publication.refresh(other_db, other) == []  # nothing new: nothing changes
    finally:
        await other_db.close()


async def test_a_process_runs_an_instance_of_a_version_published_before_its_next_refresh(service, db, database_url, clock):
    other_db = Database(database_url)
    await other_db.start(pool_size=2)
    try:
        other = FlowService(other_db, FlowRegistry.from_directory(), clock)
        await flow_snapshots.sync(other_db, other.registry)
        await publish(db, service.registry, SHORT, "account:1", clock.now())
        record, _ = await service.start("onboarding", await _organisation(db))
        assert record.flow_version == 3 and not other.registry.knows("onboarding", 3)

        moved, _ = await other.send(record.id, "revoke")

        assert (moved.flow_version, moved.state) == (3, "revoked")
    finally:
        await other_db.close()


async def _organisation(db) -> int:
    from db.tables import Organisation

    rows = await db.write([Organisation.insert(Organisation(name="Pflegedienst Eins")).returning(Organisation.id)])
    return rows[0][0]["id"]


async def test_two_publishers_at_the_same_moment_exactly_one_wins(service, db, database_url, clock):
    """Both read version 2 as published before either writes; one conditional UPDATE decides."""
    other_db = Database(database_url)
    await other_db.start(pool_size=2)
    other = FlowRegistry.from_directory()
    await flow_snapshots.sync(other_db, other)
    both_checked = asyncio.Barrier(2)
    try:
        results = await asyncio.gather(
            publish(db, service.registry, SHORT, "account:1", clock.now(), base_version=2, before_write=both_checked.wait),
            publish(other_db, other, shipped_text(version=4, expiry="500h"), "account:2", clock.now(), base_version=2,
                    before_write=both_checked.wait),
            return_exceptions=True,
        )
    finally:
        await other_db.close()

    conflicts = [r for r in results if isinstance(r, PublishConflict)]
    winners = [r for r in results if isinstance(r, publication.Published)]
    assert (len(winners), len(conflicts)) == (1, 1), results
    assert "Gleichzeitig wurde eine andere Version" in str(conflicts[0])
    won = winners[0].definition.version
    assert (await flow_versions.publications(db))["onboarding"]["flow_version"] == won
    stored = {r["flow_version"] for r in await db.fetch(FlowDefinitionSnapshot.select(FlowDefinitionSnapshot.flow_version))}
    assert stored == {2, won}  # nothing of the loser was written
    assert len(await db.fetch(AuditEvent.select().where(AuditEvent.event == "flow_published"))) == 1


async def test_a_draft_started_from_an_older_publication_is_a_conflict(service, db, clock):
    await publish(db, service.registry, SHORT, "account:1", clock.now(), base_version=2)

    with pytest.raises(PublishConflict, match="ist Version 3 veröffentlicht worden"):
        await publish(db, service.registry, shipped_text(version=4), "account:2", clock.now(), base_version=2)


async def test_a_draft_without_a_role_is_refused_naming_the_role(service, db, clock):
    with pytest.raises(FlowDefinitionError, match="'activated'"):
        await publish(db, service.registry, shipped_text(version=3, drop="    role: activated"), "account:1", clock.now())
    assert (await flow_versions.publications(db))["onboarding"]["flow_version"] == 2


async def test_a_version_that_is_not_higher_than_every_stored_one_is_refused(service, db, clock):
    with pytest.raises(PublishRefused, match="höher als 2"):
        await publish(db, service.registry, shipped_text(expiry="336h"), "account:1", clock.now())


async def test_the_audit_log_has_who_when_and_the_diff(service, db, clock):
    await publish(db, service.registry, SHORT, "account:7", clock.now(), client_ip="192.0.2.1")

    row = (await db.fetch(AuditEvent.select().where(AuditEvent.event == "flow_published")))[0]
    details = json.loads(row["details"])
    assert (row["actor"], row["created_at"], row["client_ip"]) == ("account:7", clock.now(), "192.0.2.1")
    assert (details["from_version"], details["to_version"]) == (2, 3)
    assert "-    after: 720h\n+    after: 336h\n" in details["diff"]


async def test_a_file_with_a_higher_version_is_published_at_start(service, db, tmp_path, clock):
    (tmp_path / "onboarding.yaml").write_text(SHORT, encoding="utf-8")
    registry = FlowRegistry.from_directory(tmp_path)

    await flow_snapshots.sync(db, registry, clock)

    published = (await flow_versions.publications(db))["onboarding"]
    assert (published["flow_version"], published["published_by"]) == (3, "file:onboarding.yaml")
    assert registry.onboarding().version == 3


async def test_a_file_with_a_lower_version_than_the_published_one_changes_nothing(service, db, clock):
    await publish(db, service.registry, SHORT, "account:1", clock.now())
    restarted = FlowRegistry.from_directory()  # the shipped file still says version 2

    await flow_snapshots.sync(db, restarted, clock)

    assert restarted.onboarding().version == 3
    assert (await flow_versions.publications(db))["onboarding"]["flow_version"] == 3


async def test_a_web_process_meeting_a_version_it_has_not_loaded_loads_it_and_recovers(settings, db, clock, factory):
    """A publication in another process, and an invitation on the new version there, seen
    in this web process before its next refresh: one 503 "Bitte neu laden", then the page."""
    from tests.support.admin import AdminBrowser, login_session
    from tests.support.app import running_app

    organisation = await factory.organisation()
    admin_id = await factory.account(organisation, role="admin")
    async with running_app(settings, clock) as (app, client):
        elsewhere = FlowService(db, FlowRegistry.from_directory(), clock)  # the other process
        await flow_snapshots.sync(db, elsewhere.registry)
        await publish(db, elsewhere.registry, SHORT, "account:1", clock.now())
        await elsewhere.start("onboarding", organisation, await factory.account(organisation), recipient="x@example.org")
        assert not app.state.registry.knows("onboarding", 3)
        admin = AdminBrowser(client, await login_session(db, clock, admin_id, organisation))

        first = await admin.get("/nutzerverwaltung/")
        assert first.status_code == 503 and first.headers["Retry-After"] == "1"
        assert "in einer neuen Version veröffentlicht" in first.text
        again = await admin.get("/nutzerverwaltung/")
        assert again.status_code == 200
        assert app.state.registry.onboarding().version == 3
