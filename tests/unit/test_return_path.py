"""Which return addresses the login accepts (issue 11, defect 3): same-site paths only."""

from __future__ import annotations

import pytest

from web.return_path import safe_return_path


@pytest.mark.parametrize("path", ["/", "/postfach", "/nutzerverwaltung/12", "/profil?ansicht=voll", "/nutzerverwaltung/?q=a%26b"])
def test_paths_of_the_portal_are_kept(path):
    assert safe_return_path(path) == path


@pytest.mark.parametrize("value", [
    "https://evil.example/postfach", "http:/evil.example", "//evil.example/postfach", "/\\evil.example",
    "///evil.example", "javascript:alert(1)", "postfach", "", None, "/post fach", "/postfach\n", "/x\u202e",
    "/postfach#top", "/anmelden", "/anmelden/warten/abc", "/abmelden", "/api/app/requests", "/" + "a" * 600,
])
def test_anything_else_is_refused(value):
    assert safe_return_path(value) is None
