"""docs/operations.md cannot rot: it is linked from the README, its fault-run commands select
real tests, and the configuration errors it quotes are the ones the code gives."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "operations.md"


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def pytest_commands() -> list[list[str]]:
    commands = []
    for block in shell_blocks():
        for line in block.strip().splitlines():
            words = shlex.split(line)
            while words and "=" in words[0]:
                words = words[1:]  # environment assignments
            if words[:3] == ["python", "-m", "pytest"]:
                commands.append(words[3:])
    return commands


def test_the_readme_links_the_operations_doc():
    assert "(docs/operations.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_doc_has_a_command_for_each_fault_run():
    joined = [" ".join(c) for c in pytest_commands()]
    assert any("test_outbox_recovery.py" in c and "kill_9" in c for c in joined)
    assert any("test_outage.py" in c for c in joined)


@pytest.mark.parametrize("arguments", pytest_commands(), ids=" ".join)
def test_each_documented_test_command_selects_tests(arguments):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *arguments],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    selected = re.search(r"(\d+)(?:/\d+)? tests? (?:collected|selected)", result.stdout)
    assert selected and int(selected.group(1)) > 0, result.stdout


def test_quoted_configuration_errors_are_what_the_code_says():
    from core.settings import Settings, SettingsError

    text = DOC.read_text(encoding="utf-8")
    quoted = {
        "SWEEP_INTERVAL_SECONDS": "-1", "SWEEP_BATCH_SIZE": "0", "SCHEDULER_ENABLED": "ture", "SMTP_PORT": "99999",
    }
    for name, value in quoted.items():
        with pytest.raises(SettingsError) as error:
            Settings.from_env({f"PARTNERPORTAL_{name}": value, "PARTNERPORTAL_SECRET_KEY": "s" * 40})
        assert f"Configuration error: {error.value}\n" in text
