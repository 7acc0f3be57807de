"""Dates and times as people in Germany read them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


def datetime_de(value: datetime | None) -> str:
    if value is None:
        return "–"
    return value.astimezone(BERLIN).strftime("%d.%m.%Y, %H:%M Uhr")


def iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""
