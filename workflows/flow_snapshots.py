"""Keep the text of every flow version in the database, so instances started on an
older version keep running on it after the file has changed."""

from __future__ import annotations

from db.engine import Database
from db.tables import FlowDefinitionSnapshot
from workflows.definition import FlowDefinition, FlowDefinitionError
from workflows.registry import FlowRegistry


async def sync(db: Database, registry: FlowRegistry) -> None:
    """Store the current versions; load the older ones; refuse an edited file whose
    version was not raised (running instances would silently change behaviour)."""
    await store(db, await load(db, registry))


async def load(db: Database, registry: FlowRegistry) -> list[FlowDefinition]:
    """Load the stored versions into the registry and check the files against them,
    writing nothing; returns the current versions not stored yet (for `store`)."""
    rows = await db.fetch(FlowDefinitionSnapshot.select())
    stored = {(r["flow_name"], r["flow_version"]): r for r in rows}
    missing = []
    for name in registry.names():
        definition = registry.current(name).definition
        row = stored.get((name, definition.version))
        if row is None:
            missing.append(definition)
        elif row["sha256"] != definition.sha256:
            raise FlowDefinitionError(
                definition.source,
                "version",
                f"the file changed but its version is still {definition.version}; raise the version "
                "so that running instances keep the flow they started with",
            )
    for (name, version), row in stored.items():
        registry.add_snapshot(name, version, row["text"])
    return missing


async def store(db: Database, missing: list[FlowDefinition]) -> None:
    if missing:
        await db.write(
            [
                FlowDefinitionSnapshot.insert(
                    *[
                        FlowDefinitionSnapshot(
                            flow_name=d.name, flow_version=d.version, sha256=d.sha256, text=d.text
                        )
                        for d in missing
                    ]
                ).on_conflict(action="DO NOTHING")
            ]
        )
