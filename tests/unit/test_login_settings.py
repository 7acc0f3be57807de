"""The login limits of PIN-6 are settings with ranges (CFG-1): out of range is an error."""

import pytest

from core.settings import Settings, SettingsError

SECRET = {"PARTNERPORTAL_SECRET_KEY": "k" * 40}


def test_the_login_limits_have_their_defaults():
    settings = Settings.from_env(SECRET)
    assert (settings.login_pending_max, settings.login_starts_per_account, settings.login_starts_per_ip) == (3, 5, 30)
    assert (settings.login_start_window_minutes, settings.login_max_wait_minutes) == (15, 240)
    assert (settings.login_not_me_block_minutes, settings.known_browser_days) == (15, 180)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LOGIN_PENDING_MAX", "4", "between 1 and 3"),
        ("LOGIN_PENDING_MAX", "0", "between 1 and 3"),
        ("LOGIN_STARTS_PER_ACCOUNT", "0", "between 1 and 100"),
        ("LOGIN_STARTS_PER_IP", "0", "between 1 and 10000"),
        ("LOGIN_START_WINDOW_MINUTES", "0", "between 1 and 1440"),
        ("LOGIN_MAX_WAIT_MINUTES", "10", "at least PARTNERPORTAL_LOGIN_START_WINDOW_MINUTES"),
        ("LOGIN_NOT_ME_BLOCK_MINUTES", "-5", "between 1 and 1440"),
        ("KNOWN_BROWSER_DAYS", "1000", "between 1 and 400"),
    ],
)
def test_a_login_limit_out_of_range_is_refused(name, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**SECRET, f"PARTNERPORTAL_{name}": value})
