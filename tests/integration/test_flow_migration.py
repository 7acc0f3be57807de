from __future__ import annotations

import yaml

from workflows import flow_snapshots
from workflows.flow_migration import migrate_instances
from db.tables import FlowInstance, TransitionHistory
from workflows.registry import SHIPPED_FLOWS_DIR, FlowRegistry
from workflows.service import FlowService
from workflows.versioning import plan_state_mapping


async def test_migrate_moves_instances_by_the_mapping_and_records_it(factory, db, clock, tmp_path):
    first = await factory.invite()
    second = await factory.invite()
    data = yaml.safe_load((SHIPPED_FLOWS_DIR / "onboarding.yaml").read_text())
    data["version"] += 1
    data["states"]["invited"]["label"] = "Einladung verschickt"
    (tmp_path / "onboarding.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    registry = FlowRegistry.from_directory(tmp_path)
    await flow_snapshots.sync(db, registry)
    v = first.flow_version
    old, new = registry.get("onboarding", v).definition, registry.get("onboarding", v + 1).definition

    moved = await migrate_instances(db, old, new, plan_state_mapping(old, new, {}), clock.now(), actor="cli:test")

    assert moved == 2
    rows = await db.fetch(FlowInstance.select(FlowInstance.flow_version, FlowInstance.state, FlowInstance.version))
    assert rows == [{"flow_version": v + 1, "state": "invited", "version": 2}] * 2
    history = await db.fetch(TransitionHistory.select(TransitionHistory.event).where(TransitionHistory.event == "migrate_flow"))
    assert len(history) == 2
    # The migrated instances run on version 2 from now on.
    record, outcome = await FlowService(db, registry, clock).send(first.id, "revoke")
    assert record.flow_version == v + 1 and outcome.target == "revoked"
    assert second.id != first.id
