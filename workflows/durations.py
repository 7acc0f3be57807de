"""Durations as written in flow files: "720h", "3d", "10m", "30s" (units may be combined: "1d12h")."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: object) -> timedelta:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("expected a duration such as 720h, 3d or 10m")
    compact = text.replace(" ", "")
    parts = _PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration such as 720h, 3d or 10m")
    delta = timedelta()
    for number, unit in parts:
        delta += timedelta(**{_UNITS[unit]: int(number)})
    if delta <= timedelta():
        raise ValueError(f"{text!r} must be longer than zero")
    return delta


def format_hours(delta: timedelta) -> int:
    return int(delta.total_seconds() // 3600)
