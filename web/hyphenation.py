"""Soft hyphens in long German words of headings, so a narrow screen breaks
"Daten-verarbeitung" with a hyphen instead of "Datenverarbeitun / g".

CSS `hyphens: auto` does the same only where the browser has a German dictionary
(headless Chromium on Linux has none); soft hyphens work everywhere, and browsers
leave them out of accessible names, copied text and search."""

from __future__ import annotations

import re
from functools import lru_cache

from markupsafe import Markup, escape

SOFT_HYPHEN = "\u00ad"
MIN_WORD = 10  # shorter words fit on a phone's line at heading size
MIN_PIECE = 3  # no break leaves fewer letters than this on either side
_WORD = re.compile(r"[A-Za-zÄÖÜäöüß]{%d,}" % MIN_WORD)
_TAG = re.compile(r"(<[^>]*>|&[#\w]+;)")


@lru_cache(maxsize=1)
def _dictionary():
    import pyphen

    return pyphen.Pyphen(lang="de_DE")


def load_dictionary() -> None:
    """Load the German patterns now (~0.8 s of CPU) rather than in the first request that
    shows a heading; the app does it at start, before it freezes what start-up built."""
    _dictionary()


@lru_cache(maxsize=2048)
def hyphenate_word(word: str) -> str:
    kept, last = [], 0
    for position in _dictionary().positions(word):
        if position - last >= MIN_PIECE and len(word) - position >= MIN_PIECE:
            kept.append(position)
            last = position
    pieces = [word[a:b] for a, b in zip([0, *kept], [*kept, len(word)])]
    return SOFT_HYPHEN.join(pieces)


def hyphenate(value: object) -> Markup:
    """A Jinja filter: the text (escaped unless already markup) with soft hyphens in
    its long words; tags and entities inside markup are left alone."""
    html = str(value if isinstance(value, Markup) else escape(value))
    parts = _TAG.split(html)
    return Markup("".join(p if _TAG.fullmatch(p) else _WORD.sub(lambda m: hyphenate_word(m.group()), p) for p in parts))
