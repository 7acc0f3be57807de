"""Path parameters no row can have answer 404 before any handler or query sees them.

Ids are 32-bit integer columns (db.tables.MAX_ID); a larger number made PostgreSQL
and, beyond 2^63, SQLite's driver fail with a 500. Text with control characters (a
NUL above all, which PostgreSQL refuses in text) names no page, link or request either.
One hook for the whole app, so a new route cannot forget the check."""

from __future__ import annotations

import unicodedata
from pathlib import PurePath

from litestar import Request
from litestar.exceptions import NotFoundException

from db.tables import MAX_ID


async def reject_impossible_path_parameters(request: Request) -> None:
    for value in request.path_params.values():
        if isinstance(value, PurePath):
            value = str(value)
        if isinstance(value, int) and not 0 < value <= MAX_ID:
            raise NotFoundException()
        if isinstance(value, str) and _has_control_character(value):
            raise NotFoundException()


def _has_control_character(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)
