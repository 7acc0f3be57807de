"""The `partnerportal` command, run as the installed console script in a subprocess.

These tests always use a SQLite file in a temporary folder, whatever engine the rest of
the suite runs on (PARTNERPORTAL_DATABASE_URL): they test the command line (arguments,
output, exit codes, messages), not the engine, and each needs a database of its own in
a known state (fresh, unmigrated, migrated twice).
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.support.environment import require_graphviz
from workflows.definition import load_file
from workflows.registry import SHIPPED_FLOWS_DIR
from tests.support import roles
from workflows.registry import FlowRegistry

PARTNERPORTAL = Path(sys.executable).parent / "partnerportal"
SHIPPED = SHIPPED_FLOWS_DIR / "onboarding.yaml"
TIMEOUT = 120  # seconds; a command that hangs (e.g. starts serving by mistake) fails


def clean_env(**settings: str) -> dict[str, str]:
    """The environment without any PARTNERPORTAL_* setting of the caller, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERPORTAL_")}
    env.update({f"PARTNERPORTAL_{k.upper()}": v for k, v in settings.items()})
    return env


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def run(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PARTNERPORTAL), *args],
        cwd=cwd,
        env=clean_env(**settings),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def cli(tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """Run the CLI in tmp_path against tmp_path/cli.sqlite unless told otherwise."""

    def call(*args: str, **settings: str) -> subprocess.CompletedProcess:
        settings.setdefault("database_url", sqlite_url(tmp_path / "cli.sqlite"))
        return run(*args, cwd=tmp_path, **settings)

    return call


# -- flows check ----------------------------------------------------------------


def test_flows_check_accepts_the_shipped_flow(cli):
    definition = load_file(SHIPPED)
    result = cli("flows", "check")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert f"ok: {SHIPPED}: flow onboarding version {definition.version}" in result.stdout


def _shipped() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def _transition_with(data: dict, key: str) -> int:
    return next(i for i, t in enumerate(data["transitions"]) if key in t)


def _unknown_target(d):
    d["transitions"][0]["to"] = "nirgendwo"
    return "transitions[0].to", "unknown state 'nirgendwo'"


def _unknown_guard(d):
    i = _transition_with(d, "guard")
    d["transitions"][i]["guard"] = "vollmond"
    return f"transitions[{i}].guard", "unknown guard 'vollmond'"


def _unknown_action(d):
    d["transitions"][0]["actions"] = [{"rakete_starten": "jetzt"}]
    return "transitions[0].actions[0].rakete_starten", "unknown action"


def _timer_on_unknown_event(d):
    d["timers"][0]["event"] = "explode"
    return "timers[0].event", "unknown event 'explode'"


def _unreachable_state(d):
    d["states"]["limbo"] = {"label": "Schwebezustand"}
    return "states.limbo", "unreachable"


def _no_initial(d):
    for state in d["states"].values():
        state.pop("initial", None)
    return "states", "no initial state"


def _no_final(d):
    for state in d["states"].values():
        state.pop("final", None)
    return "states", "no final state"


def _missing_label(d):
    del d["states"]["invited"]["label"]
    return "states.invited.label", "is missing"


@pytest.mark.parametrize(
    "breakage",
    [
        _unknown_target,
        _unknown_guard,
        _unknown_action,
        _timer_on_unknown_event,
        _unreachable_state,
        _no_initial,
        _no_final,
        _missing_label,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_flows_check_names_file_and_key_of_a_broken_copy(cli, tmp_path, breakage):
    data = _shipped()
    key, message = breakage(data)
    broken = tmp_path / "kaputt.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    result = cli("flows", "check", str(broken))

    assert result.returncode == 1
    assert result.stdout == ""
    assert f"error: {broken}: {key}: " in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_flows_check_fails_if_any_of_several_files_is_broken(cli, tmp_path):
    data = _shipped()
    _missing_label(data)
    broken = tmp_path / "kaputt.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    result = cli("flows", "check", str(SHIPPED), str(broken))

    assert result.returncode == 1
    assert f"ok: {SHIPPED}" in result.stdout
    assert f"error: {broken}: states.invited.label" in result.stderr


def test_flows_check_reads_the_configured_flows_dir(cli, tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    data = _shipped()
    _unknown_target(data)
    (flows / "onboarding.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    result = cli("flows", "check", flows_dir=str(flows))

    assert result.returncode == 1
    assert f"{flows / 'onboarding.yaml'}: transitions[0].to" in result.stderr


# -- flows list and diagram ------------------------------------------------------


def test_flows_list_shows_name_version_title_and_file(cli):
    definition = load_file(SHIPPED)
    result = cli("flows", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"onboarding\tversion {definition.version}\t{definition.title}\t{SHIPPED}" in lines
    assert len(lines) == len(list(SHIPPED_FLOWS_DIR.glob("*.yaml")))


def test_flows_diagram_mermaid_shows_the_german_state_labels(cli):
    definition = load_file(SHIPPED)
    result = cli("flows", "diagram", "onboarding", "--format", "mermaid")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("stateDiagram-v2")
    for state in definition.states.values():
        assert f'state "{state.label}" as {state.name}' in result.stdout
    assert f"[*] --> {definition.initial_state}" in result.stdout
    # Mermaid is the default format.
    assert cli("flows", "diagram", "onboarding").stdout == result.stdout


def test_flows_diagram_svg(cli, tmp_path):
    require_graphviz()
    definition = load_file(SHIPPED)
    result = cli("flows", "diagram", "onboarding", "--format", "svg")
    assert result.returncode == 0, result.stderr
    assert "<svg" in result.stdout and result.stdout.rstrip().endswith("</svg>")
    for state in definition.states.values():
        assert state.label in result.stdout

    target = tmp_path / "onboarding.svg"
    written = cli("flows", "diagram", "onboarding", "--format", "svg", "--output", str(target))
    assert written.returncode == 0, written.stderr
    assert written.stdout == ""
    svg = target.read_text(encoding="utf-8")
    # Not byte-equal to the first run: python-statemachine names some nodes by object id.
    assert "<svg" in svg and all(state.label in svg for state in definition.states.values())


def test_flows_diagram_svg_without_graphviz_says_what_to_install(tmp_path):
    # An empty PATH hides `dot`; the console script finds its Python by its shebang.
    result = subprocess.run(
        [sys.executable, str(PARTNERPORTAL), "flows", "diagram", "onboarding", "--format", "svg"],
        cwd=tmp_path,
        env={**clean_env(), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 1
    assert "graphviz" in result.stderr.lower()
    assert "Traceback" not in result.stderr


# -- database commands -------------------------------------------------------------


def test_db_upgrade_migrates_a_fresh_sqlite_file_once(cli, tmp_path):
    first = cli("db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert re.fullmatch(r"Applied [1-9]\d* migration\(s\)\.\n", first.stdout)
    assert (tmp_path / "cli.sqlite").exists()

    second = cli("db", "upgrade")
    assert second.returncode == 0, second.stderr
    assert second.stdout == "The database is up to date.\n"


def test_serve_refuses_an_unmigrated_database(cli, tmp_path):
    result = cli("serve", "--port", "9")  # never bound: it must stop before serving
    assert result.returncode == 1
    assert "not up to date" in result.stderr
    assert "partnerportal db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Partnerportal on" not in result.stdout


def _count(db_file: Path, sql: str, *args) -> int:
    with sqlite3.connect(db_file) as connection:
        return connection.execute(sql, args).fetchone()[0]


def test_demo_without_serving_is_idempotent(cli, tmp_path):
    from partnerportal.demo import DEMO_ADMIN, DEMO_ORGANISATION

    db_file = tmp_path / "cli.sqlite"
    first = cli("demo", "--no-serve")
    assert first.returncode == 0, first.stderr
    assert f"Demo organisation: {DEMO_ORGANISATION}" in first.stdout
    assert DEMO_ADMIN.email in first.stdout
    assert "It answers only browsers on this machine (loopback addresses); " \
        "PARTNERPORTAL_DEV_MAILBOX_REMOTE=true opens it to other clients." in first.stdout

    def snapshot() -> tuple[int, ...]:
        return tuple(
            _count(db_file, f"SELECT COUNT(*) FROM {table}")
            for table in ("organisation", "account", "flow_instance", "transition_history", "timer", "outbox")
        )

    before = snapshot()
    assert before[:3] == (1, 1, 1)
    assert _count(db_file, "SELECT COUNT(*) FROM organisation WHERE name = ?", DEMO_ORGANISATION) == 1
    assert _count(db_file, "SELECT COUNT(*) FROM account WHERE email = ? AND role = 'admin'", DEMO_ADMIN.email) == 1

    second = cli("demo", "--no-serve")
    assert second.returncode == 0, second.stderr
    # Each run prints a fresh registration link; everything else is the same.
    without_link = lambda out: [line for line in out.splitlines() if "/einladung/" not in line]  # noqa: E731
    assert without_link(second.stdout) == without_link(first.stdout)
    assert "/einladung/" in first.stdout and "/einladung/" in second.stdout
    assert snapshot() == before

    # The demo leaves a migrated database that `db upgrade` has nothing to add to.
    assert cli("db", "upgrade").stdout == "The database is up to date.\n"


# -- settings --------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["serve", "--port", "9"], ["worker"], ["demo", "--no-serve"], ["db", "upgrade"]],
    ids=" ".join,
)
def test_production_without_secret_key_stops_with_a_clear_message(cli, tmp_path, command):
    result = cli(*command, environment="production")
    assert result.returncode != 0
    assert "Configuration error: PARTNERPORTAL_SECRET_KEY: must be set in production" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cli.sqlite").exists()  # stopped before touching the database


def test_production_rejects_a_short_secret_and_accepts_a_long_one(cli):
    short = cli("db", "upgrade", environment="production", secret_key="kurz")
    assert short.returncode != 0
    assert "Configuration error: PARTNERPORTAL_SECRET_KEY: must be at least 32 characters long\n" in short.stderr

    ok = cli("db", "upgrade", environment="production", secret_key="x" * 48, smtp_host="mail.example.org")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    "command",
    [["serve", "--port", "9"], ["worker"], ["demo", "--no-serve"], ["db", "upgrade"]],
    ids=" ".join,
)
def test_production_without_smtp_host_refuses_to_start_cfg_1(cli, tmp_path, command):
    """CFG-1, REL-2: without a mail server production would never deliver a link."""
    result = cli(*command, environment="production", secret_key="x" * 48)
    assert result.returncode == 2
    assert result.stderr.startswith("Configuration error: PARTNERPORTAL_SMTP_HOST: ")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cli.sqlite").exists()  # stopped before touching the database


def test_production_refuses_a_blank_smtp_host_cfg_1(cli):
    result = cli("db", "upgrade", environment="production", secret_key="x" * 48, smtp_host="  ")
    assert result.returncode == 2
    assert "Configuration error: PARTNERPORTAL_SMTP_HOST: " in result.stderr


def test_malformed_setting_names_the_variable(cli):
    result = cli("flows", "list", sweep_batch_size="viele")
    assert result.returncode == 2
    assert "Configuration error: PARTNERPORTAL_SWEEP_BATCH_SIZE: must be a whole number between 1 and 100000, not 'viele'\n" in result.stderr


def test_serve_refuses_a_primary_colour_too_light_for_white_text(cli):
    """Issue 11: branding keeps WCAG 2.1 AA; the refusal comes at start, with the numbers."""
    result = cli("serve", "--port", "9", brand_primary_color="#ffcc00")
    assert result.returncode == 2
    assert "PARTNERPORTAL_BRAND_PRIMARY_COLOR: has a contrast of 1.5:1" in result.stderr and "#ffcc00" in result.stderr
    assert "at least 4.5:1" in result.stderr


def test_admin_create_invites_the_first_admin_and_prints_a_working_link(cli, tmp_path):
    import asyncio
    import re as _re

    from db import links
    from db.engine import Database
    from core.signing import Signer

    secret = "cli-test-secret-key-long-enough-0123456789"
    assert cli("db", "upgrade").returncode == 0
    bad = cli("admin", "create", "--org", "Pflege Nord", "--email", "not-an-address", secret_key=secret)
    assert bad.returncode == 2 and "gültige E-Mail-Adresse" in bad.stderr
    created = cli("admin", "create", "--org", "Pflege Nord", "--email", "chef@nord.example", secret_key=secret)
    assert created.returncode == 0, created.stderr
    signed = _re.search(r"/einladung/(\S+)", created.stdout).group(1)
    assert _count(tmp_path / "cli.sqlite", "SELECT COUNT(*) FROM account WHERE role = 'admin' AND email = ?", "chef@nord.example") == 1

    async def link_is_valid() -> bool:
        db = Database(sqlite_url(tmp_path / "cli.sqlite"))
        await db.start()
        try:
            from datetime import datetime, timezone

            token = Signer(secret).unsign("invitation-link", signed)
            return token is not None and await links.find_valid(db, token, datetime.now(timezone.utc), roles.link_open()) is not None
        finally:
            await db.close()

    assert asyncio.run(link_is_valid())
    again = cli("admin", "create", "--org", "Pflege Nord", "--email", "chef@nord.example", secret_key=secret)
    assert again.returncode == 0
    assert _count(tmp_path / "cli.sqlite", "SELECT COUNT(*) FROM account") == 1


def test_postfach_deliver_puts_a_message_into_the_organisations_postfach(cli, tmp_path):
    assert cli("demo", "--no-serve").returncode == 0
    body = tmp_path / "avis.txt"
    body.write_text("Sehr geehrte Damen und Herren,\n\nwir überweisen 100,00 EUR.", encoding="utf-8")
    from partnerportal.demo import DEMO_ORGANISATION

    delivered = cli("postfach", "deliver", "--org", DEMO_ORGANISATION, "--subject", "Zahlungsavis 9", "--body-file", str(body))
    assert delivered.returncode == 0, delivered.stderr
    assert _count(tmp_path / "cli.sqlite", "SELECT COUNT(*) FROM postfach_message WHERE subject = ?", "Zahlungsavis 9") == 1
    unknown = cli("postfach", "deliver", "--org", "Gibt es nicht", "--subject", "x", "--body-file", str(body))
    assert unknown.returncode == 1 and "No organisation" in unknown.stderr


def test_commands_explain_problems_instead_of_printing_tracebacks(cli):
    unmigrated = cli("worker")
    assert unmigrated.returncode == 1 and "partnerportal db upgrade" in unmigrated.stderr
    assert "Traceback" not in unmigrated.stderr
    unknown = cli("flows", "diagram", "nope")
    assert unknown.returncode == 1 and "No flow named 'nope'" in unknown.stderr and "Traceback" not in unknown.stderr
    assert cli("db", "upgrade").returncode == 0
    current = FlowRegistry.from_directory().onboarding().version
    same = cli("flows", "migrate", "onboarding", "--from-version", str(current))
    assert same.returncode == 1 and "nothing to move" in same.stderr
