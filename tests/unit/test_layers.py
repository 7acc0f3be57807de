"""The walls between the packages, as the README's "Layout" section describes them.

Each package may import only packages below it; `web` and `jobs` stand side by side and
do not import each other. Every import counts, also those inside functions, because an
import moved into a function still couples the two modules."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Lower numbers sit below higher ones.
LAYERS = {"core": 0, "db": 1, "workflows": 2, "mail": 3, "web": 4, "jobs": 4, "partnerportal": 5}


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules a file imports (`from db import links` names the module db.links)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if submodule in known else node.module)
    return {name for name in names if name.split(".")[0] in LAYERS}


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {module: _imports(path, known) for module, path in known.items()}


def test_no_package_imports_a_package_at_its_level_or_above():
    crossings = []
    for module, imported in _graph().items():
        layer = module.split(".")[0]
        for target in imported:
            other = target.split(".")[0]
            if other != layer and LAYERS[other] >= LAYERS[layer]:
                crossings.append(f"{module} imports {target}")
    assert crossings == []


def test_the_layer_test_notices_a_crossing(tmp_path):
    """The checker itself: a db module importing workflows is reported."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from workflows.engine import Outcome\n")
    assert _imports(module, {}) == {"workflows.engine"}


def test_no_import_cycle():
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in graph:
                continue
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    # A package importing its own submodules from __init__ is not a cycle worth reporting.
    cycles = [c for c in cycles if not all(m == c[0] or m.startswith(c[0] + ".") for m in c)]
    assert cycles == []


def test_importing_every_module_does_no_work(tmp_path):
    """No module creates files, folders or connections when it is imported (the database
    module used to create var/ in the current folder)."""
    modules = sorted(m for m in _modules() if m.split(".")[0] != "tests")
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PARTNERPORTAL_")}
    environment["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", script, *modules], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
