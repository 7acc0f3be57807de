"""Publishing a new version of a flow, and following what other processes publish.

A published version is in the database (its text in `flow_definition`, the pointer in
`flow_publication`); every process re-reads the pointer every few seconds
(PARTNERPORTAL_FLOW_REFRESH_SECONDS) and starts new instances on it from then on.
Running instances keep their version. The text is stored before the pointer moves,
so a process that meets an instance of a version it does not know yet can always load
it (`ensure_known`)."""

from __future__ import annotations

import asyncio
import difflib
import logging
from dataclasses import dataclass
from datetime import datetime

from db import flow_versions
from db.audit import audit_step
from db.engine import ConflictError, Database
from workflows.definition import FlowDefinition, FlowDefinitionError, parse
from workflows.registry import FlowRegistry, UnknownFlow
from core.i18n import _

log = logging.getLogger(__name__)


class PublishRefused(ValueError):
    """The draft cannot be published as it is; the message says why (German)."""


class PublishConflict(Exception):
    """Another publisher was first; nothing of this publication was written."""


@dataclass(frozen=True)
class Published:
    definition: FlowDefinition
    previous_version: int | None


def text_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff of two flow texts, for the audit log."""
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), old_name, new_name))


async def publish(
    db: Database, registry: FlowRegistry, text: str, actor: str, now: datetime, base_version: int | None = None,
    source: str = "<Entwurf>", client_ip: str = "", before_write=None, extra_steps: list | None = None,
) -> Published:
    """Validate `text` and make it the version new instances start. `base_version` is the
    published version the draft started from: if another version was published since,
    PublishConflict (nothing written). Also PublishConflict when another process wins
    the race for the same moment. FlowDefinitionError for an invalid text. `before_write`
    (tests) is awaited between the checks and the write, where a rival may slip in."""
    definition = parse(text, source=source)
    if definition.name not in registry.names():
        raise PublishRefused(
            _("Einen Ablauf „%(name)s“ gibt es nicht; bekannt: %(known)s. Neue Abläufe kommen als Datei in den Ablauf-Ordner.")
            % {"name": definition.name, "known": ", ".join(registry.names())}
        )
    current = (await flow_versions.publications(db)).get(definition.name)
    published_version = current["flow_version"] if current else None
    if base_version is not None and published_version != base_version:
        raise PublishConflict(
            _("Seit dieser Entwurf begonnen wurde, ist Version %(version)s veröffentlicht worden. "
              "Übernehmen Sie Ihre Änderungen in einen neuen Entwurf.") % {"version": published_version}
        )
    highest = await flow_versions.highest_version(db, definition.name)
    if definition.version <= highest:
        raise PublishRefused(
            _("Die Version muss höher als %(highest)d sein (die höchste gespeicherte Version); "
              "setzen Sie „version: %(next)d“.") % {"highest": highest, "next": highest + 1}
        )
    previous = await flow_versions.stored(db, definition.name, published_version) if published_version else None
    diff = text_diff(
        previous["text"] if previous else "", text, f"{definition.name} v{published_version}", f"{definition.name} v{definition.version}"
    )
    steps = [
        # The conditional UPDATE first: on PostgreSQL the second of two publishers waits on
        # the row, then finds the version changed and gets no row back.
        flow_versions.swap_publication_step(definition.name, published_version, definition.version, now, actor),
        flow_versions.snapshot_step(definition.name, definition.version, definition.sha256, text, now, actor),
        audit_step(
            "flow_published", now, actor=actor, client_ip=client_ip,
            details={"flow": definition.name, "from_version": published_version, "to_version": definition.version, "diff": diff},
        ),
        *(extra_steps or []),  # e.g. the draft marked published, in the same transaction
    ]
    if before_write is not None:
        await before_write()
    try:
        await db.write(steps)
    except ConflictError:
        raise PublishConflict(_lost(definition)) from None
    except Exception as exc:
        if _is_unique_violation(exc):  # the same version number stored at the same moment
            raise PublishConflict(_lost(definition)) from None
        raise
    registry.add_published(definition)
    return Published(definition, published_version)


def _lost(definition: FlowDefinition) -> str:
    return _(
        "Gleichzeitig wurde eine andere Version von „%(name)s“ veröffentlicht; "
        "diese hier wurde nicht veröffentlicht. Laden Sie die Seite neu und prüfen Sie den Stand."
    ) % {"name": definition.name}


def _is_unique_violation(exc: Exception) -> bool:
    return type(exc).__name__ in ("IntegrityError", "UniqueViolationError") and "unique" in str(exc).lower()


async def refresh(db: Database, registry: FlowRegistry) -> list[tuple[str, int]]:
    """Load versions stored by other processes and follow their publications; returns
    the (flow, version) pairs that became current here."""
    for name, version in sorted(await flow_versions.stored_keys(db)):
        if name in registry.names() and not registry.knows(name, version):
            await _load(db, registry, name, version)
    changed = []
    for name, publication in (await flow_versions.publications(db)).items():
        version = publication["flow_version"]
        if name in registry.names() and registry.current(name).version != version and registry.knows(name, version):
            registry.make_current(name, version)
            changed.append((name, version))
    for name, version in changed:
        log.info("Flow %s: new instances start on version %s (published)", name, version)
    return changed


async def ensure_known(db: Database, registry: FlowRegistry, name: str, version: int) -> None:
    """Load a version another process published a moment ago, before this process's
    next refresh would have (e.g. the mail of an invitation started there)."""
    if name in registry.names() and not registry.knows(name, version):
        await _load(db, registry, name, version)


async def _load(db: Database, registry: FlowRegistry, name: str, version: int) -> None:
    row = await flow_versions.stored(db, name, version)
    if row is None:
        raise UnknownFlow(f"Flow {name!r} has no version {version}")
    registry.add_snapshot(name, version, row["text"])


async def follow(db: Database, registry: FlowRegistry, interval: float) -> None:
    """Refresh every `interval` seconds until cancelled; a failed read (database briefly
    away) is logged and tried again at the next interval."""
    while True:
        await asyncio.sleep(interval)
        try:
            await refresh(db, registry)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("Could not read the published flow versions; trying again in %s s", interval, exc_info=True)


__all__ = [
    "FlowDefinitionError", "PublishConflict", "PublishRefused", "Published", "ensure_known", "follow", "publish",
    "refresh", "text_diff",
]
