"""Dates and times as readers of the current language expect them (Berlin time)."""

from __future__ import annotations

from datetime import datetime

from core.i18n import format_datetime


def datetime_de(value: datetime | None) -> str:
    """'03.12.2026, 14:05 Uhr' in German, '3 Dec 2026, 14:05' in English (the name stays
    for the templates that use it)."""
    return format_datetime(value)


def iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""
