"""All flow versions this process knows: the current files plus older versions
that running instances still use (their text comes from the database)."""

from __future__ import annotations

from core.settings import Settings, SettingsError, env_name

from pathlib import Path

from workflows.definition import FlowDefinition, FlowDefinitionError, load_file, parse, with_roles_from
from workflows.engine import Flow

SHIPPED_FLOWS_DIR = Path(__file__).parent / "flows"


class UnknownFlow(LookupError):
    pass


class UnloadedVersion(UnknownFlow):
    """A version of a known flow this process has not loaded yet: another process has
    just published it (workflows/publication.py loads it from the database)."""


class FlowRegistry:
    """`onboarding` names the flow new invitations use (the setting
    PARTNERPORTAL_ONBOARDING_FLOW); None is allowed when the folder holds one flow."""

    def __init__(self, definitions: list[FlowDefinition], onboarding: str | None = None):
        self._current: dict[str, Flow] = {}
        self._versions: dict[tuple[str, int], Flow] = {}
        for definition in definitions:
            if definition.name in self._current:
                raise FlowDefinitionError(definition.source, "flow", "defined_twice", value=repr(definition.name))
            flow = Flow(definition)
            self._current[definition.name] = flow
            self._versions[(definition.name, definition.version)] = flow
        if onboarding is None and len(self._current) == 1:
            onboarding = next(iter(self._current))
        if onboarding not in self._current:
            raise UnknownFlow(
                f"The onboarding flow {onboarding!r} (PARTNERPORTAL_ONBOARDING_FLOW) is not among the flow files; "
                f"known: {', '.join(self.names()) or 'none'}"
            )
        self.onboarding_name = onboarding

    @classmethod
    def from_directory(cls, directory: str | Path | None = None, onboarding: str | None = None) -> "FlowRegistry":
        directory = Path(directory) if directory else SHIPPED_FLOWS_DIR
        return cls([load_file(p) for p in sorted(directory.glob("*.yaml"))], onboarding or None)

    def onboarding(self) -> Flow:
        """The current version of the flow new invitations start."""
        return self._current[self.onboarding_name]

    def onboarding_states_with(self, role: str) -> frozenset[str]:
        """States with `role` in any known version of the onboarding flow (for queries
        over instances of several versions)."""
        return frozenset().union(*(f.definition.states_with(role) for f in self._all(self.onboarding_name)))

    def onboarding_events_for(self, role: str) -> frozenset[str]:
        """The event with `role` in each known version of the onboarding flow."""
        events = set()
        for flow in self._all(self.onboarding_name):
            event = next((t.event for t in flow.definition.transitions if t.role == role), None)
            if event is not None:
                events.add(event)
        return frozenset(events)

    def onboarding_timer_events(self, purpose: str) -> frozenset[str]:
        """The events of the timers with `purpose` in any known version of the onboarding flow."""
        events = set()
        for flow in self._all(self.onboarding_name):
            timer = next((t for t in flow.definition.timers if t.purpose == purpose), None)
            if timer is not None:
                events.add(timer.event)
        return frozenset(events)

    def _all(self, name: str) -> list[Flow]:
        return [flow for (n, _), flow in self._versions.items() if n == name]

    def names(self) -> list[str]:
        return sorted(self._current)

    def current(self, name: str) -> Flow:
        try:
            return self._current[name]
        except KeyError:
            raise UnknownFlow(f"No flow named {name!r}; known: {', '.join(self.names())}") from None

    def get(self, name: str, version: int) -> Flow:
        try:
            return self._versions[(name, version)]
        except KeyError:
            kind = UnloadedVersion if name in self._current else UnknownFlow
            raise kind(f"Flow {name!r} has no version {version}") from None

    def knows(self, name: str, version: int) -> bool:
        return (name, version) in self._versions

    def make_current(self, name: str, version: int) -> Flow:
        """New instances of `name` start on `version` from now on (it was published)."""
        flow = self.get(name, version)
        self._current[name] = flow
        return flow

    def add_published(self, definition: FlowDefinition) -> Flow:
        """A version this process has just published itself: known and current at once."""
        flow = self._versions.setdefault((definition.name, definition.version), Flow(definition))
        self._current[definition.name] = flow
        return flow

    def versions(self, name: str) -> list[int]:
        return sorted(v for (n, v) in self._versions if n == name)

    def add_snapshot(self, name: str, version: int, text: str) -> Flow:
        """Register an older version from its stored text (no-op if known)."""
        key = (name, version)
        if key not in self._versions:
            definition = parse(text, source=f"<stored {name} v{version}>", require_roles=False)
            if name in self._current:
                definition = with_roles_from(definition, self._current[name].definition)
            self._versions[key] = Flow(definition)
        return self._versions[key]


def load_registry(settings: Settings) -> FlowRegistry:
    """The configured flows folder, loaded once per process: a folder without the flow the
    portal runs is a configuration error at start, not a table that answers 500 later."""
    try:
        return FlowRegistry.from_directory(settings.flows_dir or None, settings.onboarding_flow)
    except UnknownFlow:
        folder = settings.flows_dir or str(SHIPPED_FLOWS_DIR)
        flow = settings.onboarding_flow
        raise SettingsError(
            f"{env_name('flows_dir')}: the folder {folder!r} has no flow {flow!r} (a *.yaml file with flow: {flow}; "
            f"{env_name('onboarding_flow')} names it)"
        ) from None
