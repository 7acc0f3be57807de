"""The configured flows folder, loaded once per process: a folder without the flow the
portal runs is a configuration error at start, not a table that answers 500 later."""

from __future__ import annotations

from partnerportal.settings import Settings, SettingsError, env_name
from workflows.invitations import FLOW
from workflows.registry import SHIPPED_FLOWS_DIR, FlowRegistry


def load_registry(settings: Settings) -> FlowRegistry:
    registry = FlowRegistry.from_directory(settings.flows_dir or None)
    if FLOW not in registry.names():
        folder = settings.flows_dir or str(SHIPPED_FLOWS_DIR)
        raise SettingsError(
            f"{env_name('flows_dir')}: the folder {folder!r} has no flow {FLOW!r} (a *.yaml file with flow: {FLOW})"
        )
    return registry
