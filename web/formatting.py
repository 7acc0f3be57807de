"""Dates and times as people in Germany read them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


def datetime_de(value: datetime | None) -> str:
    """`03.12.2026, 07:15 Uhr`; digits and fixed text only, so safe in HTML unescaped."""
    if value is None:
        return "–"
    local = value.astimezone(BERLIN)
    # %-formatting, not strftime: a table page formats 100 dates, and strftime took ~3x as long.
    return "%02d.%02d.%d, %02d:%02d Uhr" % (local.day, local.month, local.year, local.hour, local.minute)


def iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""
