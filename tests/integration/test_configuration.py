"""Settings, start-up checks and command-line recovery, through the real console script
(issue 10, sections 1 and 2). Like test_cli.py, the commands run on a SQLite file of their
own; the PostgreSQL connection errors run in the PostgreSQL pass."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from tests.integration.test_cli import PARTNERPORTAL, SHIPPED, clean_env, run, sqlite_url
from tests.support.environment import DATABASE_URL

# One bad value per command, rotating over the kinds of mistake the issue found.
BAD_SETTING_PER_COMMAND = [
    (["serve", "--port", "9"], "sweep_interval_seconds", "-1",
     "PARTNERPORTAL_SWEEP_INTERVAL_SECONDS: must be between 0.1 and 86400, not '-1'"),
    (["worker"], "sweep_batch_size", "0", "PARTNERPORTAL_SWEEP_BATCH_SIZE: must be between 1 and 100000, not '0'"),
    (["worker"], "wake_fallback_seconds", "0.5", "PARTNERPORTAL_WAKE_FALLBACK_SECONDS: must be between 1 and 3600, not '0.5'"),
    (["demo", "--no-serve"], "sweep_interval_seconds", "nan",
     "PARTNERPORTAL_SWEEP_INTERVAL_SECONDS: must be a finite number between 0.1 and 86400, not 'nan'"),
    (["db", "upgrade"], "smtp_port", "99999", "PARTNERPORTAL_SMTP_PORT: must be between 1 and 65535, not '99999'"),
    (["flows", "list"], "scheduler_enabled", "ture",
     "PARTNERPORTAL_SCHEDULER_ENABLED: must be true or false (also 1/0, yes/no, on/off), not 'ture'"),
    (["admin", "create", "--org", "Pflege Nord", "--email", "chef@nord.example"], "invites_per_admin_per_hour", "-1",
     "PARTNERPORTAL_INVITES_PER_ADMIN_PER_HOUR: must be between 1 and 100000, not '-1'"),
    (["postfach", "deliver", "--org", "X", "--subject", "S", "--body-file", "body.txt"], "session_idle_minutes", "0",
     "PARTNERPORTAL_SESSION_IDLE_MINUTES: must be between 1 and 1440, not '0'"),
    (["reports", "list"], "outbox_lease_seconds", "inf",
     "PARTNERPORTAL_OUTBOX_LEASE_SECONDS: must be a whole number between 1 and 3600, not 'inf'"),
    (["flows", "migrate", "onboarding", "--from-version", "1"], "database_url", "mysql://portal:geheim@db/portal",
     "PARTNERPORTAL_DATABASE_URL: must start with sqlite:/// or postgresql://, not 'mysql://portal:***@db/portal'"),
    (["flows", "check"], "environment", "prod",
     "PARTNERPORTAL_ENVIRONMENT: must be one of: development or production, not 'prod'"),
]


@pytest.fixture
def cli(tmp_path):
    (tmp_path / "body.txt").write_text("Guten Tag.", encoding="utf-8")

    def call(*args: str, **settings: str) -> subprocess.CompletedProcess:
        settings.setdefault("database_url", sqlite_url(tmp_path / "cli.sqlite"))
        return run(*args, cwd=tmp_path, **settings)

    return call


@pytest.mark.parametrize(("command", "name", "value", "message"), BAD_SETTING_PER_COMMAND, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_every_command_stops_at_a_bad_setting_before_touching_anything(cli, tmp_path, command, name, value, message):
    result = cli(*command, **{name: value})
    assert result.returncode == 2
    assert result.stderr == f"Configuration error: {message}\n"
    assert result.stdout == ""
    assert not (tmp_path / "cli.sqlite").exists()


def test_check_config_prints_the_effective_settings_with_secrets_masked(cli):
    assert cli("db", "upgrade").returncode == 0
    result = cli("check-config", secret_key="k" * 40, smtp_password="mail-geheim", smtp_port="2525")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines()[:-1])
    assert lines["PARTNERPORTAL_SECRET_KEY"] == "***" and lines["PARTNERPORTAL_SMTP_PASSWORD"] == "***"
    assert lines["PARTNERPORTAL_SMTP_PORT"] == "2525" and lines["PARTNERPORTAL_SWEEP_INTERVAL_SECONDS"] == "5"
    assert result.stdout.endswith("No problems found.\n") and "geheim" not in result.stdout
    assert result.stderr == ""


def test_check_config_lists_every_problem_and_exits_2(cli):
    result = cli("check-config", sweep_batch_size="0", scheduler_enabled="ture", smtp_password="mail-geheim")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Configuration error: PARTNERPORTAL_SCHEDULER_ENABLED: must be true or false (also 1/0, yes/no, on/off), not 'ture'",
        "Configuration error: PARTNERPORTAL_SWEEP_BATCH_SIZE: must be between 1 and 100000, not '0'",
    ]
    # The values as given are still shown, secrets masked.
    assert "PARTNERPORTAL_SWEEP_BATCH_SIZE" in result.stdout and " 0\n" in result.stdout
    assert "geheim" not in result.stdout + result.stderr


def test_check_config_reports_an_unmigrated_database(cli, tmp_path):
    (tmp_path / "cli.sqlite").touch()
    result = cli("check-config")
    assert result.returncode == 2
    assert result.stderr.startswith(f"Configuration error: {sqlite_url(tmp_path / 'cli.sqlite')}: The database is not up to date")
    assert result.stderr.endswith("Run: partnerportal db upgrade\n")


# -- the flows folder --------------------------------------------------------------------


@pytest.mark.parametrize("command", [["serve", "--port", "9"], ["worker"], ["flows", "list"], ["check-config"]], ids=" ".join)
def test_a_missing_flows_folder_or_flow_is_a_configuration_error(cli, tmp_path, command):
    assert cli("db", "upgrade").returncode == 0
    missing = cli(*command, flows_dir=str(tmp_path / "gibt-es-nicht"))
    assert missing.returncode == 2
    assert f"Configuration error: PARTNERPORTAL_FLOWS_DIR: must be an existing folder, not '{tmp_path / 'gibt-es-nicht'}'\n" in missing.stderr
    empty = tmp_path / "leer"
    empty.mkdir()
    without = cli(*command, flows_dir=str(empty))
    assert without.returncode == 2
    assert without.stderr.endswith(
        f"Configuration error: PARTNERPORTAL_FLOWS_DIR: the folder '{empty}' has no flow 'onboarding' "
        "(a *.yaml file with flow: onboarding; PARTNERPORTAL_ONBOARDING_FLOW names it)\n"
    )
    assert "Traceback" not in missing.stderr + without.stderr


# -- the database at start ---------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", [["serve", "--port", "9"], ["worker"], ["db", "upgrade"], ["reports", "list"]], ids=" ".join)
def test_an_unreachable_database_is_one_line_without_the_password(cli, command):
    port = _closed_port()
    url = f"postgresql://portal:geheim@127.0.0.1:{port}/portal"
    result = cli(*command, database_url=url)
    assert result.returncode == 2
    assert result.stderr == (
        f"Cannot connect to the database postgresql://portal:***@127.0.0.1:{port}/portal: "
        "connection refused (is the server running, are host and port right?)\n"
    )


def test_a_sqlite_file_that_cannot_be_created_is_one_line(cli, tmp_path):
    (tmp_path / "datei").write_text("kein Ordner")
    result = cli("db", "upgrade", database_url=sqlite_url(tmp_path / "datei" / "portal.sqlite"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"Cannot connect to the database {sqlite_url(tmp_path / 'datei' / 'portal.sqlite')}: ")
    assert len(result.stderr.splitlines()) == 1


def _with(url: str, *, password: str | None = None, database: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{password or parts.password}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc, path="/" + (database or parts.path.strip("/"))))


@pytest.mark.postgres
def test_wrong_password_and_missing_database_are_one_line(cli):
    host = f"{urlsplit(DATABASE_URL).hostname}:{urlsplit(DATABASE_URL).port or 5432}"
    user = urlsplit(DATABASE_URL).username
    wrong = cli("db", "upgrade", database_url=_with(DATABASE_URL, password="falsch"))
    assert wrong.returncode == 2
    assert wrong.stderr == f"Cannot connect to the database postgresql://{user}:***@{host}/{urlsplit(DATABASE_URL).path.strip('/')}: wrong password or user\n"
    missing = cli("worker", database_url=_with(DATABASE_URL, database="partnerportal_gibt_es_nicht"))
    assert missing.returncode == 2
    assert missing.stderr.endswith("/partnerportal_gibt_es_nicht: the database does not exist\n")
    assert "falsch" not in wrong.stderr


# -- commands on an unmigrated database ----------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["postfach", "deliver", "--org", "X", "--subject", "S", "--body-file", "body.txt"],
        ["flows", "migrate", "onboarding", "--from-version", "1", "--to-version", "2"],
    ],
    ids=" ".join,
)
def test_commands_on_an_unmigrated_database_say_run_db_upgrade(cli, command):
    result = cli(*command)
    assert result.returncode == 1
    assert result.stderr.endswith("Run: partnerportal db upgrade\n")
    assert "Traceback" not in result.stderr


# -- flows migrate ---------------------------------------------------------------------------


def _renamed(node, old: str, new: str):
    if isinstance(node, dict):
        return {(new if k == old else k): _renamed(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_renamed(v, old, new) for v in node]
    return new if node == old else node


def _snapshots(db_file: Path, version: int) -> int:
    with sqlite3.connect(db_file) as connection:
        return connection.execute("SELECT COUNT(*) FROM flow_definition WHERE flow_version = ?", (version,)).fetchone()[0]


def test_a_refused_flows_migrate_writes_nothing_and_blocks_no_later_edit(cli, tmp_path):
    assert cli("demo", "--no-serve").returncode == 0
    flows = tmp_path / "flows"
    flows.mkdir()
    data = _renamed(yaml.safe_load(SHIPPED.read_text(encoding="utf-8")), "locked", "blocked")
    shipped = data["version"]
    data["version"] = shipped + 1
    (flows / "onboarding.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    refused = cli("flows", "migrate", "onboarding", "--from-version", str(shipped), flows_dir=str(flows))
    assert refused.returncode == 1 and refused.stderr.startswith("Refused: ")
    assert _snapshots(tmp_path / "cli.sqlite", shipped + 1) == 0

    # The product owner fixes the file without raising the version again: not blocked.
    data["title"] = "Einladung und Registrierung (neu)"
    (flows / "onboarding.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    moved = cli("flows", "migrate", "onboarding", "--from-version", str(shipped), "--map", "locked=blocked", flows_dir=str(flows))
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout == f"Moved 1 instance(s) of onboarding from version {shipped} to {shipped + 1}.\n"
    assert _snapshots(tmp_path / "cli.sqlite", shipped + 1) == 1


# -- Ctrl+C ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_health(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)  # polling interval, not synchronisation
    pytest.fail(f"{url} did not answer within {timeout} s")


def test_ctrl_c_on_serve_stops_without_a_traceback(cli, tmp_path):
    assert cli("db", "upgrade").returncode == 0
    port = _free_port()
    process = subprocess.Popen(
        [str(PARTNERPORTAL), "serve", "--port", str(port)], cwd=tmp_path,
        env=clean_env(database_url=sqlite_url(tmp_path / "cli.sqlite")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        _wait_for_health(f"http://127.0.0.1:{port}/health", process)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "CancelledError" not in err
    assert "Application shutdown complete" in err


def test_ctrl_c_while_the_command_starts_prints_no_traceback(cli, tmp_path):
    """SIGINT before uvicorn handles signals (here: while the start check waits for
    PostgreSQL on a port that accepts but never answers) ends with exit 130, quietly."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    try:
        process = subprocess.Popen(
            [str(PARTNERPORTAL), "serve", "--port", "9"], cwd=tmp_path,
            env=clean_env(database_url=f"postgresql://portal:geheim@127.0.0.1:{port}/portal"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        )
        try:
            connection, _ = silent.accept()  # the command is now inside its start check
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
            connection.close()
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    finally:
        silent.close()
    assert process.returncode == 130
    assert err == "" and "Partnerportal on" not in out, err
