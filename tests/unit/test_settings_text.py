"""Settings for how the portal speaks and looks (issue 11): refused when out of range (CFG-1)."""

from __future__ import annotations

import pytest

from partnerportal.settings import Settings, SettingsError

# A configured secret: no development secret file is written by these tests.
BASE = {"PARTNERPORTAL_SECRET_KEY": "k" * 40}


def settings_from(**values: str) -> Settings:
    return Settings.from_env({**BASE, **{f"PARTNERPORTAL_{k.upper()}": v for k, v in values.items()}})


def test_the_name_gender_must_be_one_of_four():
    assert settings_from(portal_name_gender="masculine").portal_name_gender == "masculine"
    with pytest.raises(SettingsError, match="PORTAL_NAME_GENDER must be neuter, masculine, feminine or none"):
        settings_from(portal_name_gender="maskulin")


def test_the_portal_name_must_not_be_empty():
    with pytest.raises(SettingsError, match="PORTAL_NAME must not be empty"):
        settings_from(portal_name="  ")
