"""HTMX headers go through litestar-htmx: responses use its classes (ClientRedirect,
ClientRefresh, TriggerEvent, ...) and requests are read through `request.htmx`, so no
code in web/ spells an `HX-*` header itself."""

from __future__ import annotations

import ast
from pathlib import Path

import web

# Naming the request header in `Vary` is not reading or writing it.
ALLOWED = {"HX-Request"}


def hx_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and node.value.lower().startswith("hx-") and node.value not in ALLOWED
    )


def test_no_hand_written_htmx_headers_in_web():
    root = Path(web.__file__).parent
    found = {
        f"{path.relative_to(root.parent)}:{line}": value
        for path in sorted(root.rglob("*.py"))
        for line, value in hx_literals(path)
    }
    assert found == {}


def test_the_check_sees_a_hand_written_header(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('Response("", headers={"HX-Redirect": "/"})\nrequest.headers.get("hx-request")\n')
    assert hx_literals(sample) == [(1, "HX-Redirect"), (2, "hx-request")]
