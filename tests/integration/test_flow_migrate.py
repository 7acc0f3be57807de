"""Migrieren: running invitations of an older version move to the published one by a
mapping form (incomplete mappings refused), in batches with progress, resumable,
audited; their timers follow the new version."""

from __future__ import annotations

import json
from datetime import timedelta

from db import flow_migrations
from db.tables import AuditEvent, FlowInstance, Timer
from tests.support.app import running_app
from tests.support.flow_copies import shipped_text
from tests.support.product_owner import product_owner
from workflows import flow_migration
from workflows.publication import publish


async def _expiry(db, instance_id):
    row = await db.fetch_one(Timer.select(Timer.due_at, Timer.status).where((Timer.instance == instance_id) & (Timer.event == "expire")))
    return row["due_at"], row["status"]


async def test_a_product_owner_migrates_running_invitations_and_their_expiry_follows(settings, db, clock, factory, service):
    invited = await factory.invite()
    started = await factory.invite()
    await service.send(started.id, "complete_profile", data={"first_name": "A", "last_name": "B"})
    revoked = await factory.invite()
    await service.send(revoked.id, "revoke")
    async with running_app(settings, clock) as (app, client):
        owner = await product_owner(client, db, clock)
        await publish(db, app.state.registry, shipped_text(version=3, expiry="336h"), "account:1", clock.now())
        overview = await owner.get("/ablaeufe/")
        assert 'href="/ablaeufe/onboarding/migrieren/2"' in overview.text
        form = await owner.get("/ablaeufe/onboarding/migrieren/2")
        assert form.status_code == 200
        assert '<td data-label="Einladungen">1</td>' in form.text  # counts per state
        choices = {f"map_{s}": s for s in service.registry.get("onboarding", 2).definition.states}

        incomplete = await owner.post("/ablaeufe/onboarding/migrieren/2", {**choices, "map_revoked": ""})
        assert incomplete.status_code == 422
        assert "im Status „Widerrufen“ kommen" in incomplete.text
        assert await db.fetch(FlowInstance.select().where(FlowInstance.flow_version == 3)) == []

        begun = await owner.post("/ablaeufe/onboarding/migrieren/2", choices)
        assert begun.status_code == 303
        progress = await owner.post(f"{begun.headers['location']}/schritt", htmx=True)
        assert progress.status_code == 200 and "Abgeschlossen: 3 Einladungen migriert." in progress.text

    versions = {r["id"]: r["flow_version"] for r in await db.fetch(FlowInstance.select(FlowInstance.id, FlowInstance.flow_version))}
    assert versions == {invited.id: 3, started.id: 3, revoked.id: 3}
    assert await _expiry(db, invited.id) == (clock.now() + timedelta(hours=336), "pending")
    assert await _expiry(db, started.id) == (clock.now() + timedelta(hours=336), "pending")
    audit = await db.fetch(AuditEvent.select(AuditEvent.actor, AuditEvent.details).where(AuditEvent.event == "flow_migration_started"))
    assert len(audit) == 1 and audit[0]["actor"].startswith("account:")
    assert json.loads(audit[0]["details"])["instances"] == 3


async def test_a_migration_interrupted_between_batches_resumes_where_it_stopped(db, clock, factory, service):
    first, second, third = [await factory.invite() for _ in range(3)]
    await publish(db, service.registry, shipped_text(version=3, expiry="336h"), "account:1", clock.now())
    old, new = service.registry.get("onboarding", 2).definition, service.registry.get("onboarding", 3).definition
    mapping = {s: s for s in old.states}
    rows = await db.write(flow_migration.started_steps("onboarding", old, new, mapping, 3, "account:1", clock.now()))
    migration = await flow_migrations.get(db, rows[0][0]["id"])

    assert await flow_migration.migrate_batch(db, migration, old, new, clock.now(), limit=2) == 2
    # The process stops here; another one picks the migration up from its row.
    resumed = await flow_migrations.get(db, migration["id"])
    assert (resumed["moved"], resumed["status"]) == (2, "running")
    assert await flow_migration.migrate_batch(db, resumed, old, new, clock.now(), limit=2) == 1
    assert await flow_migration.migrate_batch(db, resumed, old, new, clock.now(), limit=2) == 0
    done = await flow_migrations.get(db, migration["id"])
    assert (done["moved"], done["status"]) == (3, "finished")
    versions = [r["flow_version"] for r in await db.fetch(FlowInstance.select(FlowInstance.flow_version))]
    assert versions == [3, 3, 3]


async def test_admins_cannot_migrate(settings, db, clock, factory):
    from tests.support.admin import AdminBrowser, login_session

    organisation = await factory.organisation()
    admin_id = await factory.account(organisation, role="admin")
    async with running_app(settings, clock) as (_, client):
        admin = AdminBrowser(client, await login_session(db, clock, admin_id, organisation))
        assert (await admin.get("/ablaeufe/onboarding/migrieren/2")).status_code == 403
        assert (await admin.post("/ablaeufe/onboarding/migrieren/2", {})).status_code == 403
        assert (await admin.post("/ablaeufe/migration/1/schritt", {})).status_code == 403
