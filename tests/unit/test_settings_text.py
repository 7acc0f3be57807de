"""Settings for how the portal speaks and looks (issue 11): refused when out of range (CFG-1)."""

from __future__ import annotations

import pytest

from core.settings import Settings, SettingsError

# A configured secret: no development secret file is written by these tests.
BASE = {"PARTNERPORTAL_SECRET_KEY": "k" * 40}


def settings_from(**values: str) -> Settings:
    return Settings.from_env({**BASE, **{f"PARTNERPORTAL_{k.upper()}": v for k, v in values.items()}})


def test_the_name_gender_must_be_one_of_four():
    assert settings_from(portal_name_gender="masculine").portal_name_gender == "masculine"
    with pytest.raises(SettingsError, match="PORTAL_NAME_GENDER: must be one of: neuter, masculine, feminine or none"):
        settings_from(portal_name_gender="maskulin")


def test_the_portal_name_must_not_be_empty():
    with pytest.raises(SettingsError, match="PARTNERPORTAL_PORTAL_NAME: must not be empty"):
        settings_from(portal_name="  ")


def test_the_primary_colour_must_carry_white_text_at_aa_contrast():
    assert settings_from(brand_primary_color="#0b5394").brand_primary_color == "#0b5394"
    for light in ("#ffcc00", "#7fb8e6", "#ffffff"):
        with pytest.raises(SettingsError, match=r"BRAND_PRIMARY_COLOR: has a contrast of .* at least 4.5:1"):
            settings_from(brand_primary_color=light)
    for malformed in ("blue", "#fff", "#12345g", "1f4e79"):
        with pytest.raises(SettingsError, match="must be a colour like #1f4e79"):
            settings_from(brand_primary_color=malformed)


def test_the_default_brand_is_neutral_and_passes_its_own_check():
    settings = settings_from()
    assert (settings.brand_logo, settings.brand_header_text, settings.brand_footer_text) == ("", "", "")
    assert settings.portal_name == "Partnerportal"


def test_the_logo_must_be_an_existing_svg_or_png(tmp_path):
    logo = tmp_path / "logo.svg"
    logo.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert settings_from(brand_logo=str(logo)).brand_logo == str(logo)
    with pytest.raises(SettingsError, match="does not exist"):
        settings_from(brand_logo=str(tmp_path / "fehlt.png"))
    with pytest.raises(SettingsError, match="must be an .svg or .png file"):
        settings_from(brand_logo=str(tmp_path / "logo.gif"))


def test_header_and_footer_texts_are_one_short_line():
    with pytest.raises(SettingsError, match="BRAND_FOOTER_TEXT: must be one line"):
        settings_from(brand_footer_text="zwei\nZeilen")
    with pytest.raises(SettingsError, match="BRAND_HEADER_TEXT: must be at most 200 characters long"):
        settings_from(brand_header_text="x" * 201)


def test_the_demo_brand_passes_the_checks_and_yields_to_an_own_brand():
    from partnerportal.demo import with_demo_brand

    demo = with_demo_brand(settings_from())
    assert demo.portal_name == "Nordkasse Partnerportal" and demo.brand_logo.endswith("logo.svg")
    assert with_demo_brand(settings_from(brand_primary_color="#0b5394")).brand_logo == ""
