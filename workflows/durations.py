"""Durations as written in flow files: "720h", "3d", "10m", "30s" (units may be combined: "1d12h")."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


class DurationError(ValueError):
    """A message id of workflows/definition_messages.py and its parameters."""

    def __init__(self, code: str, **params: str):
        from workflows.definition_messages import english

        self.code, self.params = code, params
        super().__init__(english(code, params))


def parse_duration(text: object) -> timedelta:
    if not isinstance(text, str) or not text.strip():
        raise DurationError("duration_expected")
    compact = text.replace(" ", "")
    parts = _PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise DurationError("duration_invalid", value=repr(text))
    delta = timedelta()
    for number, unit in parts:
        delta += timedelta(**{_UNITS[unit]: int(number)})
    if delta <= timedelta():
        raise DurationError("duration_not_positive", value=repr(text))
    return delta


def format_hours(delta: timedelta) -> int:
    return int(delta.total_seconds() // 3600)
