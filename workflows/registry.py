"""All flow versions this process knows: the current files plus older versions
that running instances still use (their text comes from the database)."""

from __future__ import annotations

from pathlib import Path

from workflows.definition import FlowDefinition, FlowDefinitionError, load_file, parse
from workflows.engine import Flow

SHIPPED_FLOWS_DIR = Path(__file__).parent / "flows"


class UnknownFlow(LookupError):
    pass


class FlowRegistry:
    def __init__(self, definitions: list[FlowDefinition]):
        self._current: dict[str, Flow] = {}
        self._versions: dict[tuple[str, int], Flow] = {}
        for definition in definitions:
            if definition.name in self._current:
                raise FlowDefinitionError(definition.source, "flow", f"{definition.name!r} is defined twice")
            flow = Flow(definition)
            self._current[definition.name] = flow
            self._versions[(definition.name, definition.version)] = flow

    @classmethod
    def from_directory(cls, directory: str | Path | None = None) -> "FlowRegistry":
        directory = Path(directory) if directory else SHIPPED_FLOWS_DIR
        return cls([load_file(p) for p in sorted(directory.glob("*.yaml"))])

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
            raise UnknownFlow(f"Flow {name!r} has no version {version}") from None

    def versions(self, name: str) -> list[int]:
        return sorted(v for (n, v) in self._versions if n == name)

    def add_snapshot(self, name: str, version: int, text: str) -> Flow:
        """Register an older version from its stored text (no-op if known)."""
        key = (name, version)
        if key not in self._versions:
            self._versions[key] = Flow(parse(text, source=f"<stored {name} v{version}>"))
        return self._versions[key]
