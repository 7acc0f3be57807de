"""Faster twins of two of Piccolo's SQLite converters, giving the same values.

Piccolo registers a converter for each declared column type (sqlite3's
`register_converter`, process-wide), and every INTEGER and TIMESTAMPTZ value read goes
through one: the INTEGER one goes through `Decimal` to accept text like "1.0", and both
sit behind a wrapper that also accepts `str`. The first page of the admin table reads
about 250 integers and 150 timestamps (what that cost: docs/benchmarks-nutzerverwaltung.md,
round 11). These do the same work directly and fall
back to Piccolo's own integer converter for anything `int` cannot read, so every value
comes out as before (tests/unit/test_sqlite_converters.py).
"""

from __future__ import annotations

import datetime
import sqlite3

from piccolo.engine.sqlite import convert_int_out

_UTC = datetime.timezone.utc
_from_iso = datetime.datetime.fromisoformat


def integer_out(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:  # a REAL or text the column's affinity kept, read as Piccolo reads it
        return convert_int_out(value)


def timestamptz_out(value: bytes) -> datetime.datetime:
    return _from_iso(value.decode()).replace(tzinfo=_UTC)  # Piccolo's, without its wrapper


def install() -> None:
    """Replace Piccolo's registrations; called when a SQLite connection opens (idempotent)."""
    sqlite3.register_converter("INTEGER", integer_out)
    sqlite3.register_converter("TIMESTAMPTZ", timestamptz_out)
