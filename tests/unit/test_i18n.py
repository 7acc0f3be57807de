"""core/i18n.py and web/i18n.py: gettext in the current language, formats per
language, and which language a request gets."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from core import i18n
from core.settings import Settings, SettingsError
from web.i18n import from_accept_language, request_language

OFFERED = ["de", "en", "de-x-ls"]
WINTER_NOON_UTC = datetime(2026, 12, 3, 13, 5, tzinfo=timezone.utc)


def test_a_translated_message_shows_in_english_and_german_stays_the_source():
    with i18n.language("en"):
        assert i18n.format_datetime(WINTER_NOON_UTC) == "3 Dec 2026, 14:05"
    assert i18n.format_datetime(WINTER_NOON_UTC) == "03.12.2026, 14:05 Uhr"


def test_a_value_without_zone_is_utc_as_stored_by_the_database():
    assert i18n.format_datetime(WINTER_NOON_UTC.replace(tzinfo=None)) == "03.12.2026, 14:05 Uhr"
    with i18n.language("en"):
        assert i18n.format_datetime(WINTER_NOON_UTC.replace(tzinfo=None)) == "3 Dec 2026, 14:05"


def test_an_unknown_message_falls_back_to_the_german_msgid():
    with i18n.language("en"):
        assert i18n.gettext("Diesen Satz gibt es in keinem Katalog.") == "Diesen Satz gibt es in keinem Katalog."
        assert i18n.ngettext("%(n)s Tag", "%(n)s Tage", 1) == "%(n)s Tag"
        assert i18n.ngettext("%(n)s Tag", "%(n)s Tage", 3) == "%(n)s Tage"


def test_numbers_and_dates_follow_the_language_in_berlin_time():
    summer_evening_utc = datetime(2026, 7, 1, 22, 30, tzinfo=timezone.utc)
    assert i18n.format_date(summer_evening_utc) == "02.07.2026"
    assert i18n.format_number(12345.5) == "12.345,5"
    with i18n.language("en"):
        assert i18n.format_number(12345.5) == "12,345.5"
        assert i18n.format_time(summer_evening_utc) == "00:30"


def test_the_language_block_restores_the_previous_language():
    with i18n.language("en"):
        with i18n.language("de-x-ls"):
            assert i18n.current_language() == "de-x-ls"
        assert i18n.current_language() == "en"
    assert i18n.current_language() == "de"


def test_lazy_text_is_translated_when_shown():
    lazy = i18n.lazy_gettext("%(date)s, %(time)s Uhr")
    assert str(lazy) == "%(date)s, %(time)s Uhr"
    with i18n.language("en"):
        assert str(lazy) == "%(date)s, %(time)s"


@pytest.mark.parametrize(
    ("header", "expected"),
    [("en-US,en;q=0.9", "en"), ("de-DE,de;q=0.9,en;q=0.8", "de"), ("fr,en;q=0.5", "en"), ("en;q=0.3,de;q=0.7", "de"),
     ("fr", None), ("", None)],
)
def test_accept_language_picks_the_best_offered_language(header, expected):
    assert from_accept_language(header, OFFERED) == expected


def test_cookie_beats_profile_beats_accept_language_beats_german():
    assert request_language({"pp_lang": "de-x-ls"}, "en", OFFERED, profile_language="en") == "de-x-ls"
    assert request_language({}, "de", OFFERED, profile_language="en") == "en"
    assert request_language({"pp_lang": "klingonisch"}, "en", OFFERED) == "en"
    assert request_language({}, "fr", OFFERED) == "de"
    assert request_language({"pp_lang": "en"}, "", ["de"]) == "de"


@pytest.mark.parametrize(
    ("value", "why"),
    [("en,de", "must start with de"), ("de,fr", "must name only known languages"), ("de,,en", "must list language codes separated by commas"),
     ("de,en,en", "names a language twice")],
)
def test_a_bad_language_list_is_a_configuration_error(value, why):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"PARTNERPORTAL_LANGUAGES": value})
    assert error.value.problems[0].startswith(f"PARTNERPORTAL_LANGUAGES: {why}")


@pytest.mark.parametrize("autoescape", [True, False])
@pytest.mark.parametrize("code", ["de", "en"])
def test_templates_gettext_renders_as_jinjas_newstyle_gettext(autoescape, code):
    """core.i18n.template_gettext (called directly, texts kept per language) gives what
    Jinja's own newstyle `_()` gives: translation, `%%` as `%`, variables escaped."""
    import jinja2

    source = (
        '{{ _("Nutzerverwaltung") }}|{{ _("100 %% sicher") }}|{{ _("Hallo %(name)s", name=who) }}|'
        '{% trans %}Abmelden{% endtrans %}|{% trans name=who %}Status von {{ name }}{% endtrans %}|'
        '{{ _("Fehler: %(message)s", message=who) }}'
    )
    ours = jinja2.Environment(autoescape=autoescape)
    i18n.install_gettext(ours)
    jinjas = jinja2.Environment(autoescape=autoescape, extensions=["jinja2.ext.i18n"])
    jinjas.policies["ext.i18n.trimmed"] = True
    jinjas.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)
    with i18n.language(code):
        for _ in range(2):  # the second time from the kept texts
            rendered = ours.from_string(source).render(who="<b>Ü</b>")
            assert rendered == jinjas.from_string(source).render(who="<b>Ü</b>")
    assert ("&lt;b&gt;" in rendered) is autoescape
    assert "100 % sicher" in rendered
