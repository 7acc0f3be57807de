"""The sort key of names (db/name_order.py): German dictionary order, compared bytewise."""

from __future__ import annotations

import pytest

from db.name_order import SEPARATOR, name_key


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
