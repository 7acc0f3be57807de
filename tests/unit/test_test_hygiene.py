"""The suite's own guards: an empty database URL means the default, for the app and for
the tests alike, and a test run may not write into the working tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import DEFAULT_DATABASE_URL, Settings
from tests.conftest import REPOSITORY, files_under

SECRET = "s" * 32


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_database_url_means_the_default(empty):
    settings = Settings.from_env({"PARTNERPORTAL_DATABASE_URL": empty, "PARTNERPORTAL_SECRET_KEY": SECRET})
    assert settings.database_url == DEFAULT_DATABASE_URL


def test_other_empty_settings_keep_their_meaning():
    settings = Settings.from_env({"PARTNERPORTAL_SMTP_HOST": "", "PARTNERPORTAL_SUPPORT_EMAIL": "", "PARTNERPORTAL_SECRET_KEY": SECRET})
    assert settings.smtp_host == "" and settings.support_email == ""  # empty: development mailbox, not shown


def without_settings(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERPORTAL_")}
    return {**env, **extra}


def test_the_piccolo_configuration_takes_an_empty_url_as_the_default(tmp_path):
    probe = "from db import piccolo_conf; print(piccolo_conf.DB.connection_kwargs['database'])"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=without_settings(PARTNERPORTAL_DATABASE_URL="", PYTHONPATH=str(REPOSITORY)),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "var/partnerportal.sqlite"


def test_database_tests_run_with_an_empty_url():
    """They used to error, every one, on an empty PARTNERPORTAL_DATABASE_URL."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/integration/test_live.py::test_overlapping_polls_deliver_each_change_once"],
        cwd=REPOSITORY, env=without_settings(PARTNERPORTAL_DATABASE_URL=""), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_working_tree_guard_sees_new_files_but_not_tool_caches(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "module.py").write_text("")
    before = files_under(tmp_path)
    for cache in (".venv", "__pycache__", ".pytest_cache", ".hypothesis", "partnerportal.egg-info"):
        (tmp_path / cache).mkdir()
        (tmp_path / cache / "file").write_text("")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "development-secret-key").write_text("x")
    assert files_under(tmp_path) - before == {str(Path("var") / "development-secret-key")}
