"""What the tests pass to db queries that take a flow's roles (the app asks its registry)."""

from __future__ import annotations

from workflows.registry import FlowRegistry


def link_open(registry: FlowRegistry | None = None) -> frozenset[str]:
    return (registry or FlowRegistry.from_directory()).onboarding_states_with("link_open")


def expiry_events(registry: FlowRegistry | None = None) -> frozenset[str]:
    return (registry or FlowRegistry.from_directory()).onboarding_timer_events("expiry")
