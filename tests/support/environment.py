"""What the test run has: which database, and whether CI demands every service."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
# Unset or empty: a throw-away SQLite file (as for the app, empty means the default).
DATABASE_URL = os.environ.get("PARTNERPORTAL_DATABASE_URL", "").strip()
ENGINE = "postgres" if DATABASE_URL.startswith(("postgres://", "postgresql://")) else "sqlite"


def require(available: bool, what: str) -> None:
    """Skip locally when a service is missing; in CI (CI=true) fail instead."""
    if available:
        return
    message = f"{what} is not available"
    if IN_CI:
        pytest.fail(f"{message}, and CI=true requires it (.ci/run must provide it)")
    pytest.skip(message)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_graphviz() -> None:
    require(shutil.which("dot") is not None, "Graphviz (dot)")
