"""Apply a state mapping to every instance of one flow version, in one transaction."""

from __future__ import annotations

from datetime import datetime

from db.engine import Database, Step
from db.tables import FlowInstance, Timer, TransitionHistory
from workflows.definition import FlowDefinition


async def migrate_instances(
    db: Database, old: FlowDefinition, new: FlowDefinition, mapping: dict[str, str], now: datetime, actor: str
) -> int:
    rows = await db.fetch(
        FlowInstance.select(FlowInstance.id, FlowInstance.organisation, FlowInstance.state, FlowInstance.version).where(
            (FlowInstance.flow_name == old.name) & (FlowInstance.flow_version == old.version)
        )
    )
    if not rows:
        return 0
    steps: list[Step] = []
    for row in rows:
        steps.append(
            Step(
                FlowInstance.update(
                    {
                        FlowInstance.flow_version: new.version,
                        FlowInstance.state: mapping[row["state"]],
                        FlowInstance.version: FlowInstance.version + 1,
                        FlowInstance.updated_at: now,
                    }
                )
                .where((FlowInstance.id == row["id"]) & (FlowInstance.version == row["version"]))
                .returning(FlowInstance.id),
                expect_rows=1,
            )
        )
    steps.append(
        Step(
            TransitionHistory.insert(
                *[
                    TransitionHistory(
                        instance=row["id"],
                        organisation=row["organisation"],
                        event="migrate_flow",
                        from_state=row["state"],
                        to_state=mapping[row["state"]],
                        actor=actor,
                        details={"from_version": old.version, "to_version": new.version},
                        created_at=now,
                    )
                    for row in rows
                ]
            )
        )
    )
    new_events = {t.event for t in new.transitions}
    dropped = sorted({t.event for t in old.timers} - new_events)
    if dropped:
        # Pending timers for events the new version no longer has would never fire.
        steps.append(
            Step(
                Timer.update({Timer.status: "cancelled"}).where(
                    (Timer.status == "pending")
                    & Timer.event.is_in(dropped)
                    & Timer.instance.is_in([row["id"] for row in rows])
                )
            )
        )
    await db.write(steps)
    return len(rows)
