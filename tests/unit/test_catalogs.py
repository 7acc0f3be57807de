"""The gettext catalogs (core/locale) parse, say what they are, keep every placeholder
of their msgid, and the English one is complete: no empty and no fuzzy entry."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from core.i18n import CATALOG_DIRS, LOCALE_DIR, catalog

# %(name)s placeholders (gettext, newstyle Jinja) and {name} placeholders (texts the app's
# script fills in).
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|\{(\w+)\}")
# The portal's name with its German article ("zum Partnerportal"); other languages use
# the bare name, `%(portal)s` (mail/texts.py).
PORTAL_FORMS = {"zum_portal", "beim_portal", "vom_portal", "fuer_portal"}


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def messages(code: str):
    parsed = catalog(code)
    assert parsed is not None, f"no catalog for {code} in {LOCALE_DIR}"
    return [m for m in parsed if m.id]


@pytest.mark.parametrize("code", sorted(CATALOG_DIRS))
def test_each_catalog_parses_with_its_own_locale(code):
    path = LOCALE_DIR / CATALOG_DIRS[code] / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        parsed = read_po(handle)
    assert str(parsed.locale) == CATALOG_DIRS[code]
    assert messages(code), "the catalog has messages"


@pytest.mark.parametrize("code", sorted(CATALOG_DIRS))
def test_translations_keep_the_placeholders_of_their_msgid(code):
    wrong = []
    for message in messages(code):
        ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        allowed = set().union(*(placeholders(i) for i in ids))
        if allowed & PORTAL_FORMS:
            allowed |= {"portal"}
        for string in filter(None, strings):
            # Plural forms may say "one" instead of the number; no other placeholder may go missing.
            needed = allowed - PORTAL_FORMS - {"portal"} - ({"count"} if len(ids) > 1 else set())
            if not placeholders(string) <= allowed or not needed <= placeholders(string):
                wrong.append((ids[0], string))
    assert wrong == []


def test_the_english_catalog_is_complete():
    untranslated = []
    for message in messages("en"):
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        if message.fuzzy or not all(strings):
            untranslated.append(message.id)
    assert untranslated == []


def test_every_msgid_of_the_template_is_in_each_catalog():
    with (LOCALE_DIR / "messages.pot").open("rb") as handle:
        template = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    for code in CATALOG_DIRS:
        known = {m.id if isinstance(m.id, str) else m.id[0] for m in messages(code)}
        assert template - known == set(), f"run pybabel update: {code} lacks messages of messages.pot"


def test_the_english_catalog_holds_every_marked_text():
    """Extracted afresh with babel.cfg (as `pybabel extract` does), not read from
    messages.pot: a text marked in a template or in Python after the last extract would
    show in German on an English page."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    root = LOCALE_DIR.parents[1]
    with (root / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
                "npgettext": ((1, "c"), 2, 3), "lazy_gettext": None}
    marked = {
        message[0] if isinstance(message, tuple) else message
        for _file, _line, message, _comments, _context in extract_from_dir(str(root), method_map, options_map, keywords=keywords)
    }
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in messages("en")}
    assert sorted(marked - known) == [], "run pybabel extract and update (README \"Translations\"), then translate"
