"""Languages: the current one in a context variable, gettext over Babel's catalogs,
and dates, times and numbers formatted per language.

German is the source language: a msgid is the German text, so a missing catalog or a
missing translation shows German. Catalogs are the `.po` files under `core/locale`,
read once per process with Babel's `read_po` (no compile step, so installing the
package is all the set-up; see README "Translations").

Language codes are the app's (`de`, `en`, `de-x-ls`); the catalog folder of each is in
CATALOG_DIRS, because gettext locale names cannot hold `-x-`.
"""

from __future__ import annotations

import contextvars
import gettext as gettext_module
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from jinja2 import pass_eval_context
from markupsafe import Markup

SOURCE_LANGUAGE = "de"
LEICHTE_SPRACHE = "de-x-ls"
KNOWN_LANGUAGES = ("de", "en", LEICHTE_SPRACHE)
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
BERLIN = ZoneInfo("Europe/Berlin")

# App language -> folder under core/locale (`pybabel update -d core/locale` walks them).
CATALOG_DIRS = {"en": "en", LEICHTE_SPRACHE: "de@ls"}
# App language -> Babel locale for formats (Leichte Sprache writes dates as German does;
# English uses British formats: day before month, 24-hour clock, as readers in Germany expect).
FORMAT_LOCALES = {"de": "de_DE", "en": "en_GB", LEICHTE_SPRACHE: "de_DE"}
# The language's name in itself, for the language switch.
NATIVE_NAMES = {"de": "Deutsch", "en": "English", LEICHTE_SPRACHE: "Leichte Sprache"}
# The language tag for `lang` attributes. Leichte Sprache is German: "de", so screen
# readers pick a German voice, browsers German hyphenation and spell-checking, whatever
# they make of a private-use subtag (`de-x-ls` is valid BCP 47, but tools need not know it).
HTML_LANG = {"de": "de", "en": "en", LEICHTE_SPRACHE: "de"}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("partnerportal_language", default=SOURCE_LANGUAGE)


def current_language() -> str:
    return _current.get()


def set_language(language: str) -> contextvars.Token:
    """Makes `language` current in this context; reset with the returned token."""
    return _current.set(language if language in KNOWN_LANGUAGES else SOURCE_LANGUAGE)


def reset_language(token: contextvars.Token) -> None:
    _current.reset(token)


@contextmanager
def language(code: str | None) -> Iterator[str]:
    """Runs a block in `code` (e.g. rendering a mail in its recipient's language)."""
    token = set_language(code or SOURCE_LANGUAGE)
    try:
        yield current_language()
    finally:
        reset_language(token)


@lru_cache(maxsize=None)
def catalog(code: str) -> Catalog | None:
    """The parsed catalog of a language, or None (German, or no file)."""
    folder = CATALOG_DIRS.get(code)
    if folder is None:
        return None
    path = LOCALE_DIR / folder / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        return read_po(handle, locale=Locale.parse(folder), domain=DOMAIN)


@lru_cache(maxsize=None)
def _translations(code: str) -> dict[tuple[str, str | None], Any]:
    """(msgid, context) -> msgstr (a string, or a tuple of plural forms) for the
    messages translated and not fuzzy; anything else falls back to the source text."""
    parsed = catalog(code)
    if parsed is None:
        return {}
    table: dict[tuple[str, str | None], Any] = {}
    for message in parsed:
        if not message.id or message.fuzzy:
            continue
        key = message.id[0] if isinstance(message.id, (tuple, list)) else message.id
        strings = message.string
        if isinstance(strings, (tuple, list)):
            if all(strings):
                table[(key, message.context)] = tuple(strings)
        elif strings:
            table[(key, message.context)] = strings
    return table


@lru_cache(maxsize=None)
def _plural_rule(code: str):
    """The catalog's Plural-Forms expression as a function n -> index (Babel's Catalog
    keeps only the C expression; the standard library's gettext compiles it safely)."""
    parsed = catalog(code)
    return gettext_module.c2py(parsed.plural_expr) if parsed is not None else None


def _plural_index(code: str, n: int) -> int:
    rule = _plural_rule(code)
    return rule(n) if rule is not None else (0 if n == 1 else 1)


def pgettext(context: str | None, message: str) -> str:
    found = _translations(current_language()).get((message, context))
    return found if isinstance(found, str) else message


def gettext(message: str) -> str:
    return pgettext(None, message)


def npgettext(context: str | None, singular: str, plural: str, n: int) -> str:
    code = current_language()
    found = _translations(code).get((singular, context))
    if isinstance(found, tuple):
        index = _plural_index(code, n)
        if 0 <= index < len(found):
            return found[index]
    return singular if n == 1 else plural


def ngettext(singular: str, plural: str, n: int) -> str:
    return npgettext(None, singular, plural, n)


_ = gettext


class LazyString:
    """A text translated when it is shown, in the language current then (for texts
    defined at import time: module constants, form labels)."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message

    def __str__(self) -> str:
        return gettext(self.message)

    def __html__(self) -> str:
        from markupsafe import escape

        return str(escape(str(self)))

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.message)

    def __add__(self, other: str) -> str:
        return str(self) + other

    def __radd__(self, other: str) -> str:
        return other + str(self)

    def __mod__(self, values: Any) -> str:
        return str(self) % values

    def format(self, *args: Any, **kwargs: Any) -> str:
        return str(self).format(*args, **kwargs)

    def __repr__(self) -> str:
        return f"lazy_gettext({self.message!r})"


def lazy_gettext(message: str) -> LazyString:
    return LazyString(message)


class LocalizedText(str):
    """A text given per language in data (the flow file's labels and confirmations):
    compares, hashes and stores as its German text; shown (str(), f-strings, templates)
    in the current language, German where a translation is missing (Leichte Sprache
    falls back to German too)."""

    translations: dict[str, str]

    def __new__(cls, german: str, translations: dict[str, str] | None = None) -> "LocalizedText":
        text = super().__new__(cls, german)
        text.translations = {code: value for code, value in (translations or {}).items() if code != SOURCE_LANGUAGE}
        return text

    def localized(self, code: str | None = None) -> str:
        return self.translations.get(code or current_language()) or str.__str__(self)

    def __str__(self) -> str:
        return self.localized()

    def __format__(self, spec: str) -> str:
        return format(self.localized(), spec)

    def __html__(self) -> str:
        from markupsafe import escape

        return str(escape(self.localized()))

    def __reduce__(self):
        return (LocalizedText, (str.__str__(self), self.translations))


def html_lang(code: str | None = None) -> str:
    return HTML_LANG.get(code or current_language(), SOURCE_LANGUAGE)


def format_locale(code: str | None = None) -> str:
    return FORMAT_LOCALES.get(code or current_language(), FORMAT_LOCALES[SOURCE_LANGUAGE])


@lru_cache(maxsize=None)
def _babel_locale(name: str) -> Locale:
    # Babel parses a locale given by name again on every call (~5 us, several times per value).
    return Locale.parse(name)


def format_datetime(value: datetime | None) -> str:
    """Date and time in Berlin time: "03.12.2026, 14:05 Uhr" / "3 Dec 2026, 14:05"."""
    if value is None:
        return "–"
    return _formatted_datetime(_aware(value), current_language())


# A table shows the same instants on every visit (invited, valid until): each is formatted
# once per language (Babel takes ~10 us per date or time, 100 of them on a page).
@lru_cache(maxsize=4096)
def _formatted_datetime(value: datetime, code: str) -> str:
    return gettext("%(date)s, %(time)s Uhr") % {"date": format_date(value), "time": format_time(value)}


def format_date(value: date | datetime | None, format: str = "medium") -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        value = _aware(value).astimezone(BERLIN).date()
    return babel_dates.format_date(value, format=format, locale=_babel_locale(format_locale()))


def format_time(value: time | datetime | None, format: str = "short") -> str:
    """Hours and minutes in Berlin time ("14:05"), without "Uhr"."""
    if value is None:
        return "–"
    locale = _babel_locale(format_locale())
    if isinstance(value, datetime):
        return babel_dates.format_time(_aware(value), format=format, tzinfo=BERLIN, locale=locale)
    return babel_dates.format_time(value, format=format, locale=locale)


def _aware(value: datetime) -> datetime:
    """Naive values are UTC, as the database stores them."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def format_number(value: float | int) -> str:
    """Grouped per language: 12.345 / 12,345."""
    return babel_numbers.format_decimal(value, locale=_babel_locale(format_locale()))


def format_percent(value: float) -> str:
    return babel_numbers.format_percent(value, locale=_babel_locale(format_locale()))


class CurrentHtmlLang:
    """`{{ html_lang }}` in templates: the `lang` value of the language current when shown."""

    def __str__(self) -> str:
        return html_lang()

    def __html__(self) -> str:
        return html_lang()


def install_gettext(environment: Any) -> None:
    """Gives a Jinja environment `{% trans %}`, `_()`, `gettext`, `ngettext` and
    `pgettext` in the current language (newstyle: `_("Hallo %(name)s", name=n)`
    formats and escapes the values; a literal percent sign is `%%`)."""
    environment.add_extension("jinja2.ext.i18n")
    # Whitespace inside {% trans %} collapses, as babel.cfg extracts it (`trimmed`);
    # `{% trans notrimmed %}` keeps line breaks where a text mail needs them.
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_callables(
        gettext, ngettext, newstyle=True, pgettext=pgettext, npgettext=npgettext,
    )
    # `_()` and {% trans %} without plural: Jinja's newstyle gettext, called directly
    # instead of through its alias and a second context call per text (~25 texts a page).
    environment.globals["_"] = environment.globals["gettext"] = template_gettext
    environment.globals["html_lang"] = CurrentHtmlLang()


@lru_cache(maxsize=4096)
def _template_text(code: str, message: str, autoescape: bool) -> str:
    """A template's text without variables in language `code` (the current one): what
    Jinja's newstyle gettext gives, i.e. with `%%` as `%`; the same for every page."""
    text = gettext(message)
    return (Markup(text) if autoescape else text) % {}


@pass_eval_context
def template_gettext(eval_context: Any, message: str, /, **variables: Any) -> str:
    """Jinja's newstyle gettext (ext.i18n): the translation, as Markup when autoescaping,
    formatted with the variables, which are escaped."""
    if not variables and type(message) is str:
        return _template_text(current_language(), message, eval_context.autoescape)
    text = gettext(message)
    return (Markup(text) if eval_context.autoescape else text) % variables
