"""README.md tells the truth: its Quickstart commands work, its settings table matches
core/settings.py, its command table matches the CLI, and CI runs the README's
test command.

Like tests/integration/test_cli.py, this runs the installed console script against a
SQLite file in a temporary folder, whatever engine the rest of the suite uses.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from core import settings as settings_module
from partnerportal.cli import _parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
PARTNERPORTAL = Path(sys.executable).parent / "partnerportal"
TIMEOUT = 120
SERVER_START_SECONDS = 60


def readme() -> str:
    return README.read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the `## title` section, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme(), re.S | re.M)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def fenced_blocks(text: str, language: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^```{language}\n(.*?)^```$", text, re.S | re.M)]


def quickstart_commands() -> tuple[str, str]:
    blocks = fenced_blocks(section("Quickstart"), "sh")
    assert len(blocks) >= 2, "the Quickstart needs two ```sh blocks: start the app, run the tests"
    return blocks[0], blocks[1]


def steps(command: str) -> list[list[str]]:
    """A one-line command of `a && b && c` as the argument lists of a, b and c."""
    assert "\n" not in command, f"the Quickstart command must be one line: {command!r}"
    return [shlex.split(part) for part in command.split(" && ")]


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERPORTAL_")}
    env.update({f"PARTNERPORTAL_{k.upper()}": v for k, v in settings.items()})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- Quickstart ---------------------------------------------------------------------


def test_quickstart_first_block_installs_then_starts_the_demo():
    start, _ = quickstart_commands()
    venv, install, demo = steps(start)
    assert venv == ["python3", "-m", "venv", ".venv"]
    assert install == [".venv/bin/pip", "install", "-e", "."]
    assert demo == [".venv/bin/partnerportal", "demo"]


def test_quickstart_second_block_installs_the_test_extra_then_runs_pytest():
    _, test = quickstart_commands()
    venv, install, run = steps(test)
    assert venv == ["python3", "-m", "venv", ".venv"]
    assert install[:3] == [".venv/bin/pip", "install", "-e"] and len(install) == 4
    target, _, extras = install[3].partition("[")
    assert target == "." and "test" in extras.rstrip("]").split(",")
    assert run[:3] == [".venv/bin/python", "-m", "pytest"]

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "test" in project["optional-dependencies"]
    assert any(r.startswith("pytest") for r in project["optional-dependencies"]["test"])
    assert project["scripts"]["partnerportal"] == "partnerportal.cli:main"


def test_ci_runs_the_readme_test_command():
    _, test = quickstart_commands()
    script = CI_RUN.read_text(encoding="utf-8")
    assert os.access(CI_RUN, os.X_OK), ".ci/run must be executable"
    assert script.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script
    assert f"TEST_COMMAND='{test}'" in script, ".ci/run must run exactly the README's test command"


def test_quickstart_demo_prepares_and_serves_on_the_embedded_default(tmp_path):
    """Runs the first block after its install, as a fresh checkout would: the
    database is the default relative SQLite file under var/ of the working folder."""
    start, _ = quickstart_commands()
    program, *arguments = steps(start)[-1]
    assert Path(program).name == PARTNERPORTAL.name
    env = clean_env()  # no settings at all: the embedded default

    prepared = subprocess.run(
        [str(PARTNERPORTAL), *arguments, "--no-serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert prepared.returncode == 0, prepared.stderr
    assert "Demo organisation: Demo-Pflegedienst Sonnenschein" in prepared.stdout
    assert "Berta Apoll" in prepared.stdout
    for claim in ("Demo-Pflegedienst Sonnenschein", "Berta Apoll", "var/partnerportal.sqlite", "http://127.0.0.1:8000"):
        assert claim in section("Quickstart")

    db_file = tmp_path / "var" / "partnerportal.sqlite"
    assert db_file.is_file()
    with sqlite3.connect(db_file) as connection:
        organisations = connection.execute("SELECT id, name FROM organisation").fetchall()
        admins = connection.execute("SELECT organisation, last_name FROM account WHERE role = 'admin'").fetchall()
    assert [name for _, name in organisations] == ["Demo-Pflegedienst Sonnenschein"]
    assert admins == [(organisations[0][0], "Apoll")]

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(PARTNERPORTAL), "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        health = wait_for_health(f"http://127.0.0.1:{port}/health", server, log)
        # one web process per core; with several, the scheduler runs in a process beside them
        scheduler = "running" if (os.cpu_count() or 1) == 1 else "separate process"
        assert health == {"status": "ok", "database": "ok", "scheduler": scheduler, "flows": {"onboarding": 2}}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200
            assert '<html lang="de">' in response.read().decode("utf-8")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def wait_for_health(url: str, server: subprocess.Popen, log: Path) -> dict:
    deadline = time.monotonic() + SERVER_START_SECONDS
    last_error = "no answer"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return json.loads(response.read())
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = str(exc)
        time.sleep(0.1)  # polling interval, not synchronisation
    pytest.fail(f"{url} did not answer 200 within {SERVER_START_SECONDS} s ({last_error}):\n{log.read_text()}")


# -- settings table -------------------------------------------------------------------


def env_settings() -> dict[str, object]:
    """Every PARTNERPORTAL_* variable Settings.from_env reads, with its default."""
    return {
        settings_module.PREFIX + f.name.upper(): f.default
        for f in dataclasses.fields(settings_module.Settings)
        if f.name != "secret_generated"
    }


def readme_settings_rows() -> list[tuple[str, str, str]]:
    """(variable, default, allowed values) of each row of the settings table."""
    return re.findall(r"^\| `(PARTNERPORTAL_\w+)` \| (.*?) \| (.*?) \| .+ \|$", section("Settings"), re.M)


def readme_settings_table() -> dict[str, str]:
    return {name: default for name, default, _ in readme_settings_rows()}


def test_settings_table_states_each_settings_range_as_the_code_checks_it():
    for name, _, allowed in readme_settings_rows():
        field = name.removeprefix(settings_module.PREFIX).lower()
        assert allowed == settings_module.range_text(field), f"README.md gives {name} the range {allowed}"


def test_every_setting_is_in_the_readme():
    text = readme()
    source = (ROOT / "core" / "settings.py").read_text(encoding="utf-8")
    for name in env_settings():
        assert name in text, f"{name} is missing from README.md"
    # Names spelled out in settings.py (messages) exist too.
    for name in set(re.findall(r"PARTNERPORTAL_[A-Z_]+[A-Z]", source)) | set(
        re.findall(r"\{PREFIX\}([A-Z_]+[A-Z])", source)
    ):
        full = name if name.startswith("PARTNERPORTAL_") else "PARTNERPORTAL_" + name
        assert full in env_settings(), f"settings.py mentions {full}, which is no setting"


def test_settings_table_has_each_setting_once_with_its_default():
    table = readme_settings_table()
    expected = env_settings()
    assert sorted(table) == sorted(expected)
    for name, default in expected.items():
        if default == "":
            written = "empty"
        elif isinstance(default, bool):
            written = f"`{str(default).lower()}`"
        else:
            written = f"`{default}`"
        assert table[name] == written, f"README.md gives {name} the default {table[name]}, settings.py {written}"


def test_readme_mentions_no_unknown_setting():
    mentioned = set(re.findall(r"PARTNERPORTAL_[A-Z_]+[A-Z]", readme()))
    assert mentioned <= set(env_settings()), mentioned - set(env_settings())


# -- commands table --------------------------------------------------------------------


def readme_commands() -> list[str]:
    return re.findall(r"^\| `(partnerportal [^`]+)` \|", section("Commands"), re.M)


def command_words(usage: str) -> list[str]:
    """`partnerportal flows diagram NAME [--format ...]` -> ["flows", "diagram"]."""
    words = []
    for word in usage.split()[1:]:
        if word.startswith("-") or not (word.islower() and word.replace("-", "").isalpha()):
            break
        words.append(word)
    return words


def cli_commands(parser=None, prefix=()) -> set[str]:
    """Every leaf command of the real argument parser."""
    import argparse

    from partnerportal.cli import _parser

    parser = parser or _parser()
    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= cli_commands(sub, (*prefix, name)) or {" ".join((*prefix, name))}
    return found


def test_commands_table_lists_every_command():
    listed = {" ".join(command_words(usage)) for usage in readme_commands()}
    assert listed == cli_commands()
    assert {"serve", "demo", "worker", "db upgrade", "flows check"} <= listed


@pytest.mark.parametrize("usage", readme_commands())
def test_each_documented_command_and_option_exists(usage, capsys):
    command = command_words(usage)
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for option in re.findall(r"--[a-z][a-z-]*", usage):
        assert option in help_text, f"`partnerportal {' '.join(command)}` has no {option}"


# -- flow file section -------------------------------------------------------------------


def test_flow_file_section_names_every_key_and_only_real_guards_and_actions():
    from workflows import definition
    from workflows.actions import ACTIONS
    from workflows.guards import GUARDS

    text = section("The flow file")
    keys = (
        definition.TOP_LEVEL_KEYS
        | definition.STATE_KEYS
        | definition.TRANSITION_KEYS
        | definition.TIMER_KEYS
        | set(getattr(definition, "TRIGGERS", ()))
    )
    missing = sorted(k for k in keys if f"`{k}" not in text)
    assert not missing, f"README.md's flow file section does not mention {missing}"
    # Guards and actions are only examples there (the code lists them), but real ones.
    examples = re.search(r"Guards \(such as (.*?)\) and\s+actions \(such as (.*?)\) are", text, re.S)
    assert examples, "the flow file section names example guards and actions"
    assert set(re.findall(r"`(\w+)`", examples.group(1))) <= set(GUARDS)
    assert {m.split(":")[0] for m in re.findall(r"`([\w: ]+)`", examples.group(2))} <= set(ACTIONS)
    for command in ("partnerportal flows check", "partnerportal flows diagram onboarding", "partnerportal flows migrate"):
        assert command in text


def test_flow_file_section_lists_every_role_with_what_it_is_for():
    from workflows.roles import ROLES

    text = section("The flow file")
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| (.+?) \|$", text, re.M))
    assert set(rows) == set(ROLES)
    for name, role in ROLES.items():
        assert rows[name].rstrip(".").lower() == role.purpose.lower(), name
    assert "PARTNERPORTAL_ONBOARDING_FLOW" in text and "`auto: true`" in text
