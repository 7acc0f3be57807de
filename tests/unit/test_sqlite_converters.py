"""The faster SQLite converters give exactly the values Piccolo's own give."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from piccolo.engine.sqlite import convert_int_out, convert_timestamptz_out

from db import sqlite_converters

# As SQLite hands them to a converter: the stored value's text, as bytes.
INTEGERS = [b"0", b"7", b"-42", b"9007199254740993", b"-9223372036854775808", b"1.0", b"1.5", b"-2.75", b"1e3"]
TIMESTAMPS = [
    b"2026-12-04 12:41:54.399457+00:00",  # as Piccolo writes an aware datetime
    b"2026-12-04 08:56:09+00:00",
    b"2026-12-04 08:56:09",  # SQLite's current_timestamp, a column default
    b"2026-12-04T08:56:09.5",
]


@pytest.mark.parametrize("value", INTEGERS)
def test_an_integer_reads_as_piccolo_reads_it(value):
    ours = sqlite_converters.integer_out(value)
    assert (type(ours), ours) == (int, convert_int_out(value))


@pytest.mark.parametrize("value", [b"abc", b""])
def test_text_in_an_integer_column_fails_as_with_piccolo(value):
    with pytest.raises(ArithmeticError):  # decimal.InvalidOperation, as Piccolo's raises
        convert_int_out(value)
    with pytest.raises(ArithmeticError):
        sqlite_converters.integer_out(value)


@pytest.mark.parametrize("value", TIMESTAMPS)
def test_a_timestamp_reads_as_piccolo_reads_it(value):
    ours = sqlite_converters.timestamptz_out(value)
    assert ours == convert_timestamptz_out(value)
    assert ours.tzinfo is UTC


def test_a_connection_reads_through_the_installed_converters():
    sqlite_converters.install()
    connection = sqlite3.connect(":memory:", detect_types=sqlite3.PARSE_DECLTYPES)
    try:
        connection.execute('CREATE TABLE t ("n" INTEGER, "at" TIMESTAMPTZ)')
        connection.executemany("INSERT INTO t VALUES (?, ?)", [(3, "2026-12-04 08:56:09"), (1.5, None)])
        rows = connection.execute("SELECT n, at FROM t ORDER BY rowid").fetchall()
    finally:
        connection.close()
    assert rows == [(3, datetime(2026, 12, 4, 8, 56, 9, tzinfo=UTC)), (1, None)]
