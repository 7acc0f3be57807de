"""Moving running instances from one version of a flow to another, by an explicit state map."""

from __future__ import annotations

from workflows.definition import FlowDefinition


class MigrationRefused(ValueError):
    pass


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise MigrationRefused(f"{pair!r}: write each mapping as OLD_STATE=NEW_STATE")
        mapping[old.strip()] = new.strip()
    return mapping


def plan_state_mapping(old: FlowDefinition, new: FlowDefinition, explicit: dict[str, str]) -> dict[str, str]:
    """Every state of the old version must land on a state of the new one.

    States that keep their name map to themselves unless mapped explicitly; a
    state that disappeared must be mapped, or the migration is refused.
    """
    if old.name != new.name:
        raise MigrationRefused(f"cannot migrate flow {old.name!r} to a different flow {new.name!r}")
    unknown_old = sorted(set(explicit) - set(old.states))
    if unknown_old:
        raise MigrationRefused(f"version {old.version} has no state(s) {', '.join(unknown_old)}")
    unknown_new = sorted({t for t in explicit.values()} - set(new.states))
    if unknown_new:
        raise MigrationRefused(f"version {new.version} has no state(s) {', '.join(unknown_new)}")
    mapping = {s: s for s in old.states if s in new.states}
    mapping.update(explicit)
    unmapped = [s for s in old.states if s not in mapping]
    if unmapped:
        raise MigrationRefused(
            f"state(s) {', '.join(unmapped)} of version {old.version} have no place in version "
            f"{new.version}; map each with --map STATE=NEW_STATE"
        )
    return mapping
