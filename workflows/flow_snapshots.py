"""Keep the text of every flow version in the database, so instances started on an
older version keep running on it after the file has changed, and start every process
on the published version of each flow."""

from __future__ import annotations

from dataclasses import replace

from core.clock import SystemClock
from db import flow_versions
from db.engine import ConflictError, Database
from db.tables import FlowDefinitionSnapshot
from workflows.definition import FlowDefinition, FlowDefinitionError, check_roles, parse
from workflows.registry import FlowRegistry


def file_actor(source: str) -> str:
    return f"file:{source.rsplit('/', 1)[-1]}"


async def sync(db: Database, registry: FlowRegistry, clock=None) -> None:
    """Store the files' versions; publish a file whose version is higher than the
    published one (as a restart always did); load every stored version; make the
    published version current. Refuses an edited file whose version was not raised
    (running instances would silently change behaviour)."""
    await store(db, registry, await load(db, registry), clock)


async def load(db: Database, registry: FlowRegistry) -> list[FlowDefinition]:
    """Check the files against the stored versions and load those into the registry,
    writing nothing; returns the files' versions still to be stored or published (for
    `store`). Until then a file newer than the published version stays current, as
    `store` will publish it."""
    rows = await db.fetch(FlowDefinitionSnapshot.select())
    stored = {(r["flow_name"], r["flow_version"]): r for r in rows}
    published = await flow_versions.publications(db)
    pending = []
    for name in registry.names():
        definition = registry.current(name).definition
        row = stored.get((name, definition.version))
        if row is not None and row["sha256"] != definition.sha256 and translations_only(row["text"], definition):
            pending.append(definition)  # `store` updates the stored text of this version
            continue
        if row is not None and row["sha256"] != definition.sha256:
            raise FlowDefinitionError(definition.source, "version", "file_changed", version=str(definition.version))
        current = published.get(name)
        if row is None or current is None or current["flow_version"] < definition.version:
            pending.append(definition)
    _load_stored(registry, rows, published, keep_newer_files=True)
    return pending


async def store(db: Database, registry: FlowRegistry, pending: list[FlowDefinition], clock=None) -> None:
    now = (clock or SystemClock()).now()
    if pending:
        published = await flow_versions.publications(db)
        stored = {(r["flow_name"], r["flow_version"]): r["sha256"] for r in await db.fetch(
            FlowDefinitionSnapshot.select(
                FlowDefinitionSnapshot.flow_name, FlowDefinitionSnapshot.flow_version, FlowDefinitionSnapshot.sha256)
        )}
        for definition in pending:
            name, known = definition.name, (definition.name, definition.version) in stored
            if known and stored[(name, definition.version)] != definition.sha256:
                # Checked by `load`: only translations changed. Every process that starts
                # with this file writes the same text, so the order does not matter.
                await db.write([flow_versions.retext_step(name, definition.version, definition.sha256, definition.text)])
            current = published.get(name)
            if current is not None and current["flow_version"] >= definition.version:
                if not known:  # an older file than the published version: keep its text all the same
                    await db.write([_store(definition, now, None)])
                continue
            actor = file_actor(definition.source)
            steps = [flow_versions.swap_publication_step(name, current["flow_version"] if current else None, definition.version, now, actor)]
            steps.append(flow_versions.mark_published_step(name, definition.version, now, actor) if known else _store(definition, now, actor))
            try:
                await db.write(steps)
            except ConflictError:
                pass  # another process started at the same moment and published first; read below what won
    _load_stored(registry, await db.fetch(FlowDefinitionSnapshot.select()), await flow_versions.publications(db))


def _load_stored(registry: FlowRegistry, rows, published, keep_newer_files: bool = False) -> None:
    for row in rows:
        registry.add_snapshot(row["flow_name"], row["flow_version"], row["text"])
    for name, publication in published.items():
        if name not in registry.names():
            continue
        if keep_newer_files and registry.current(name).version > publication["flow_version"]:
            continue
        flow = registry.make_current(name, publication["flow_version"])
        check_roles(flow.definition)


def translations_only(stored_text: str, definition: FlowDefinition) -> bool:
    """Whether the file differs from the stored text of its version only in translations
    (the non-German texts of labels and confirmations): the same behaviour and the same
    German texts, which is what running instances rely on."""
    try:
        stored = parse(stored_text, source=definition.source, require_roles=False)
    except FlowDefinitionError:
        return False
    # LocalizedText compares by its German text, so translations do not take part.
    return replace(stored, text="", source="") == replace(definition, text="", source="")


def _store(definition, now, actor: str | None):
    return flow_versions.snapshot_step(
        definition.name, definition.version, definition.sha256, definition.text, now, actor, if_missing=True
    )
