"""The English catalog is complete: every text the code and the templates mark for
gettext (extracted here with babel.cfg, as `pybabel extract` does) has an English
translation that is neither empty nor fuzzy, with the German placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = ROOT / "core" / "locale" / "en" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def english_catalog():
    with ENGLISH.open("rb") as handle:
        return read_po(handle, locale="en")


def extracted_ids() -> set[str]:
    """The msgids `pybabel extract -F babel.cfg -k lazy_gettext` finds now."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
                "npgettext": ((1, "c"), 2, 3), "lazy_gettext": None}
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords,
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def untranslated(message) -> bool:
    strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
    return message.fuzzy or not all(strings)


def test_english_catalog_is_complete():
    catalog = english_catalog()
    missing = sorted(
        (message.id if isinstance(message.id, str) else message.id[0])
        for message in catalog if message.id and untranslated(message)
    )
    assert not missing, f"{len(missing)} untranslated or fuzzy message(s) in {ENGLISH.name}:\n" + "\n".join(missing)


def test_english_catalog_holds_every_marked_text():
    """A text marked in a template or in Python but not yet in the catalog (extract and
    update were not run) would show in German on an English page."""
    catalog = english_catalog()
    known = {message.id if isinstance(message.id, str) else message.id[0] for message in catalog if message.id}
    absent = sorted(extracted_ids() - known)
    assert not absent, "run pybabel extract and update (README \"Translations\"), then translate:\n" + "\n".join(absent)


def test_english_translations_keep_the_placeholders():
    """A translation may leave a placeholder out, never invent one (it would raise when
    formatting); plural forms are checked each."""
    wrong = []
    for message in english_catalog():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        allowed = set().union(*(PLACEHOLDER.findall(text) for text in ids))
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        for text in strings:
            extra = set(PLACEHOLDER.findall(text or "")) - allowed
            if extra:
                wrong.append(f"{ids[0]!r}: {sorted(extra)}")
    assert not wrong, "\n".join(wrong)
