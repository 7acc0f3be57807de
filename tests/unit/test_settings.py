"""Every setting refuses bad values with `PARTNERPORTAL_NAME: why` (issue 10, section 1).

The bad values are derived from the settings model itself (type, range, length), so a
new setting is walked without touching this file; a setting whose kind this file does
not know (a new custom check) fails `test_every_setting_has_bad_values`."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from core import settings as settings_module
from core.settings import PREFIX, SECRET_FIELDS, Settings, SettingsError, setting_names

BOOLEAN_WORDS = "true or false (also 1/0, yes/no, on/off)"
SECRET = "s" * 40

# Settings checked by their own function: bad value -> the reason the message gives.
CUSTOM = {
    "database_url": [
        ("mysql://user:geheim@db.example/portal", "must start with sqlite:/// or postgresql://"),
        ("sqlite:///", "must start with sqlite:/// or postgresql://"),
        ("postgresql://user:geheim@db.example", "must name a host and a database: postgresql://USER:PASSWORD@HOST:PORT/NAME"),
    ],
    "secret_key": [("zu-kurz", "must be at least 32 characters long")],
    "base_url": [("ftp://portal.example", "must be an http:// or https:// address with a host"), ("portal.example", "must be an http:// or https:// address with a host")],
    "mail_from": [("noreply", "must contain an e-mail address, e.g. Partnerportal <noreply@example.org>")],
    "flows_dir": [("/does/not/exist/flows", "must be an existing folder")],
    "onboarding_flow": [("mein-ablauf", "must be the name of a flow (its `flow:` key), such as onboarding")],
    "trusted_proxies": [("10.0.0.5,proxy.example", "must list IP addresses or networks separated by commas (e.g. 10.0.0.5,10.1.0.0/16); 'proxy.example' is neither")],
    "brand_logo": [("logo.gif", "must be an .svg or .png file"), ("fehlt.png", "does not exist or is not a file")],
    "brand_primary_color": [
        ("blau", "must be a colour like #1f4e79"),
        ("#ffcc00", "has a contrast of 1.5:1 against the white text drawn on it; WCAG 2.1 AA needs at least 4.5:1. Choose a darker colour"),
    ],
}

# A wait may not be shorter than the window it follows: at each edge of one, the other follows.
LINKED = {
    "login_start_window_minutes": lambda v: {"login_max_wait_minutes": f"{max(v, 240):g}"},
    "login_max_wait_minutes": lambda v: {"login_start_window_minutes": f"{min(v, 15):g}"},
}


def _field(name: str):
    return Settings.__pydantic_fields__[name]


def _bounds(name: str):
    low = high = None
    for item in _field(name).metadata:
        low, high = getattr(item, "ge", low), getattr(item, "le", high)
    return low, high


def _lengths(name: str):
    low = high = None
    for item in _field(name).metadata:
        low, high = getattr(item, "min_length", low), getattr(item, "max_length", high)
    return low, high


def _shown(name: str, value: str) -> str:
    if name in SECRET_FIELDS:
        return ""
    if name == "database_url":
        value = value.replace(":geheim@", ":***@")
    return f", not {value!r}"


def bad_values(name: str) -> list[tuple[str, str]]:
    """(raw environment value, expected message after 'PARTNERPORTAL_NAME: ')."""
    if name in CUSTOM:
        return [(value, why + _shown(name, value)) for value, why in CUSTOM[name]]
    annotation = _field(name).annotation
    low, high = _bounds(name)
    cases: list[tuple[str, str]] = []
    if annotation is bool:
        for word in ("ture", "ja", "2", ""):
            cases.append((word, f"must be {BOOLEAN_WORDS}" + _shown(name, word)))
    elif annotation is int:
        span = f" between {low:g} and {high:g}"
        for value in (str(low - 1), str(high + 1), "-1", "0") if low > 0 else (str(low - 1), str(high + 1)):
            cases.append((value, f"must be{span}" + _shown(name, value)))
        for value in ("nan", "1.5", "viele", ""):
            cases.append((value, f"must be a whole number{span}" + _shown(name, value)))
    elif annotation is float:
        span = f" between {low:g} and {high:g}"
        for value in ("0", "-1", str(high * 2)):
            cases.append((value, f"must be{span}" + _shown(name, value)))
        for value in ("nan", "inf", "-inf", "NaN"):
            cases.append((value, f"must be a finite number{span}" + _shown(name, value)))
        cases.append(("fünf", f"must be a number{span}" + _shown(name, "fünf")))
    elif typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        expected = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
        for value in ("ture", choices[0].upper(), ""):
            cases.append((value, f"must be one of: {expected}" + _shown(name, value)))
    elif annotation is str:
        min_length, max_length = _lengths(name)
        if max_length:
            value = "x" * (max_length + 1)
            cases.append((value, f"must be at most {max_length} characters long" + _shown(name, value)))
        if min_length:
            cases.append(("", "must not be empty"))
    return cases


ALL_CASES = [(name, value, why) for name in setting_names() for value, why in bad_values(name)]


def test_every_setting_has_bad_values():
    """A new setting of a kind this file cannot derive bad values for fails here."""
    unchecked = [name for name in setting_names() if not bad_values(name)]
    # Free texts (contacts, SMTP login) accept any string up to their length; all have one.
    assert unchecked == []


@pytest.mark.parametrize(("name", "value", "why"), ALL_CASES, ids=[f"{n}={v!r}" for n, v, _ in ALL_CASES])
def test_a_bad_value_names_the_variable_and_why(name, value, why):
    environ = {PREFIX + "SECRET_KEY": SECRET, PREFIX + name.upper(): value}
    with pytest.raises(SettingsError) as error:
        Settings.from_env(environ)
    assert error.value.problems == [f"{PREFIX}{name.upper()}: {why}"]


def test_secrets_are_never_echoed():
    with pytest.raises(SettingsError) as error:
        Settings.from_env({PREFIX + "SECRET_KEY": "geheim-und-kurz", PREFIX + "SMTP_PASSWORD": "p" * 201})
    message = "\n".join(error.value.problems)
    assert "geheim" not in message and "ppp" not in message
    assert error.value.problems == [
        f"{PREFIX}SECRET_KEY: must be at least 32 characters long",
        f"{PREFIX}SMTP_PASSWORD: must be at most 200 characters long",
    ]


def test_every_problem_is_reported_in_field_order():
    with pytest.raises(SettingsError) as error:
        Settings.from_env({PREFIX + "SWEEP_BATCH_SIZE": "0", PREFIX + "SMTP_PORT": "99999", PREFIX + "SECRET_KEY": SECRET})
    assert [p.split(":")[0] for p in error.value.problems] == [PREFIX + "SMTP_PORT", PREFIX + "SWEEP_BATCH_SIZE"]


def test_production_without_a_secret_is_a_configuration_error():
    with pytest.raises(SettingsError) as error:
        Settings.from_env({PREFIX + "ENVIRONMENT": "production"})
    assert str(error.value).startswith(f"{PREFIX}SECRET_KEY: must be set in production: ")


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("yes", True), ("On", True), ("TRUE", True), ("0", False), ("no", False), ("off", False)]
)
def test_boolean_words(raw, expected):
    assert Settings.from_env({PREFIX + "SCHEDULER_ENABLED": raw, PREFIX + "SECRET_KEY": SECRET}).scheduler_enabled is expected


def test_good_values_at_the_edges_of_each_range_are_accepted():
    for name in setting_names():
        low, high = _bounds(name)
        if low is None:
            continue
        for value in (low, high):
            linked = {PREFIX + k.upper(): v for k, v in LINKED.get(name, lambda _: {})(value).items()}
            environ = {PREFIX + "SECRET_KEY": SECRET, PREFIX + name.upper(): f"{value:g}", **linked}
            assert getattr(Settings.from_env(environ), name) == value


def test_a_wait_shorter_than_its_window_is_refused():
    environ = {PREFIX + "SECRET_KEY": SECRET, PREFIX + "LOGIN_START_WINDOW_MINUTES": "60", PREFIX + "LOGIN_MAX_WAIT_MINUTES": "30"}
    with pytest.raises(SettingsError) as error:
        Settings.from_env(environ)
    assert error.value.problems == [f"{PREFIX}LOGIN_MAX_WAIT_MINUTES: must be at least {PREFIX}LOGIN_START_WINDOW_MINUTES"]


def test_variable_names_are_read_regardless_of_case():
    assert Settings.from_env({"partnerportal_smtp_port": "2525", PREFIX + "SECRET_KEY": SECRET}).smtp_port == 2525


def test_replace_checks_the_new_values_too():
    """Tests and other code change settings with dataclasses.replace; that validates as well."""
    settings = Settings(secret_key=SECRET)
    assert dataclasses.replace(settings, smtp_port=2525).smtp_port == 2525
    with pytest.raises(ValueError):
        dataclasses.replace(settings, sweep_batch_size=0)


def test_effective_settings_mask_secrets_and_the_database_password():
    settings = Settings.from_env({
        PREFIX + "SECRET_KEY": SECRET, PREFIX + "SMTP_PASSWORD": "mail-geheim",
        PREFIX + "DATABASE_URL": "postgresql://portal:db-geheim@db.example:5432/portal",
    })
    shown = dict(settings_module.effective(settings.__dict__, settings.secret_generated))
    assert shown[PREFIX + "SECRET_KEY"] == "***" and shown[PREFIX + "SMTP_PASSWORD"] == "***"
    assert shown[PREFIX + "DATABASE_URL"] == "postgresql://portal:***@db.example:5432/portal"
    assert "geheim" not in repr(shown)
