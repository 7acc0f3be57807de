"""The flow file is the only place that knows the flow: no Python outside the flow
files, tests, benchmarks and migrations names a state or event id of a shipped flow, as
a string or inside one (SQL such as `event = 'expire'`). Code asks the flow's roles."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from workflows.definition import load_file
from workflows.registry import SHIPPED_FLOWS_DIR

ROOT = Path(__file__).resolve().parents[2]
EXCLUDED = ("workflows/flows", "tests", "bench", "db/migrations")
SKIPPED_FOLDERS = {".venv", "venv", "build", "var", "node_modules", ".git"}


def flow_ids() -> set[str]:
    ids: set[str] = set()
    for path in SHIPPED_FLOWS_DIR.glob("*.yaml"):
        definition = load_file(path)
        ids |= set(definition.states) | set(definition.events)
    return ids


def python_sources() -> list[Path]:
    files = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if SKIPPED_FOLDERS & set(relative.parts) or any(part.endswith(".egg-info") for part in relative.parts):
            continue
        if any(relative.as_posix().startswith(prefix + "/") for prefix in EXCLUDED):
            continue
        files.append(path)
    return files


def hits(source: str, ids: set[str]) -> list[tuple[int, str]]:
    """(line, text) of every string constant that is an id or quotes one inside it."""
    quoted = re.compile(r"""['"](%s)['"]""" % "|".join(map(re.escape, sorted(ids))))
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in ids or quoted.search(node.value):
                found.append((node.lineno, node.value))
    return sorted(found)


def test_the_scanner_finds_what_it_looks_for():
    ids = {"invited", "expire"}
    sample = 'STATES = ("invited",)\nSQL = "SELECT 1 FROM timer WHERE event = \'expire\'"\nx = f"{a} invited"\n'
    assert [line for line, _ in hits(sample, ids)] == [1, 2]
    assert hits('"""Invited people get a reminder before they expire."""', ids) == []


def test_no_python_names_a_state_or_event_of_a_shipped_flow():
    ids = flow_ids()
    assert {"invited", "consent", "expire"} <= ids  # the scan looks for the real ids
    sources = python_sources()
    assert ROOT / "web" / "controllers" / "registration.py" in sources
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in sources
        for line, text in hits(path.read_text(encoding="utf-8"), ids)
    ]
    assert not found, "flow ids in Python (ask the flow's roles instead):\n" + "\n".join(found)
