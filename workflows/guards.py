"""Named guards a flow file may use: pure functions of the instance context and event data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Guard = Callable[[dict[str, Any], dict[str, Any]], bool]


def profile_complete(context: dict[str, Any], data: dict[str, Any]) -> bool:
    """The event carries the names the wizard requires."""
    return all(str(data.get(key, "")).strip() for key in ("first_name", "last_name"))


def device_bound(context: dict[str, Any], data: dict[str, Any]) -> bool:
    return bool(context.get("device_bound"))


def device_missing(context: dict[str, Any], data: dict[str, Any]) -> bool:
    return not context.get("device_bound")


GUARDS: dict[str, Guard] = {
    "profile_complete": profile_complete,
    "device_bound": device_bound,
    "device_missing": device_missing,
}
