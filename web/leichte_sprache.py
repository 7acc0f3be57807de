"""Leichte Sprache (language tag de-x-ls): the pages people most need in it (Hilfe,
Barrierefreiheit, Barriere melden, Einwilligung, error pages) have a whole-page version
in templates/leichte_sprache/ under the same name; every other screen shows the de-x-ls
catalog's texts in its usual template. Whole pages, because Leichte Sprache reorders and
explains: a sentence-by-sentence translation of a long page would not be Leichte Sprache."""

from __future__ import annotations

import functools
from pathlib import Path

from core.i18n import LEICHTE_SPRACHE as LANGUAGE

FOLDER = "leichte_sprache"
TEMPLATE_DIR = Path(__file__).parent / "templates" / FOLDER


@functools.cache
def pages() -> frozenset[str]:
    """The screens with a version in Leichte Sprache ("help.html"); "_" marks a shared layout."""
    return frozenset(p.name for p in TEMPLATE_DIR.glob("*.html") if not p.name.startswith("_"))


def template_for(template_name: str, language: str | None) -> str:
    if language == LANGUAGE and template_name in pages():
        return f"{FOLDER}/{template_name}"
    return template_name
