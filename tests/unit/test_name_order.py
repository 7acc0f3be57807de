"""The sort key of names (db/name_order.py): German dictionary order, compared bytewise."""

from __future__ import annotations

import pytest

from db.name_order import KEY_MAX, SEPARATOR, name_key


@pytest.mark.parametrize(("first", "last", "key"), [
    ("Anna", "Müller", "muller\x01anna"),
    ("Jörg", "STRAẞE", "strasse\x01jorg"),  # the capital sharp s, as "ss" like the small one
    ("Zoë", "  de   Vries ", "de vries\x01zoe"),  # runs of spaces count as one, none at the ends
    ("Ægir", "Łódź", "lodz\x01aegir"),  # letters without a decomposition, spelled out
    ("", "", SEPARATOR),  # an anonymised person
])
def test_the_key_folds_case_accents_and_sharp_s(first, last, key):
    assert name_key(first, last) == key


def test_the_last_name_decides_before_the_first_and_a_shorter_one_comes_first():
    names = [("Zoe", "Berg"), ("Anna", "Bergmann"), ("Anna", "Berg")]
    assert sorted(names, key=lambda n: name_key(*n)) == [("Anna", "Berg"), ("Zoe", "Berg"), ("Anna", "Bergmann")]
    # Bytewise, as both databases compare the column: the same order as Python's.
    assert sorted(names, key=lambda n: name_key(*n).encode()) == sorted(names, key=lambda n: name_key(*n))


def test_a_name_that_folding_lengthens_still_gives_a_key_a_cursor_can_carry():
    """One Arabic ligature (a letter, so a valid name) decomposes into 18 characters: a
    100-letter name would give a key of 1 800, and the next-page cursor carrying it would be
    refused, showing the first page again and again."""
    from db.people import _name_cursor

    key = name_key("\ufdfa" * 100, "\ufdfa" * 100)
    assert len(key) == KEY_MAX
    assert _name_cursor(f"{key}|7|9") == (key, 7, 9)
