"""`operator create`, `flows publish` and `flows export` as the installed command (a
SQLite file of their own, like tests/integration/test_cli.py)."""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.integration.test_cli import run, sqlite_url
from tests.support.flow_copies import shipped_text

SECRET = "cli-test-secret-key-long-enough-0123456789"


@pytest.fixture
def cli(tmp_path):
    def call(*args: str, **settings: str):
        settings.setdefault("database_url", sqlite_url(tmp_path / "cli.sqlite"))
        return run(*args, cwd=tmp_path, **settings)

    return call


def _rows(path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql, args).fetchall()


def test_operator_create_invites_a_product_owner_into_the_operator_organisation(cli, tmp_path):
    assert cli("db", "upgrade").returncode == 0
    created = cli("operator", "create", "--email", "P.Produkt@Betreiber.example", "--first-name", "Paula", secret_key=SECRET)
    assert created.returncode == 0, created.stderr
    assert "as product owner of Betreiber" in created.stdout and re.search(r"/einladung/\S+", created.stdout)
    database = tmp_path / "cli.sqlite"
    assert _rows(database, "SELECT a.role, o.kind, o.name FROM account a JOIN organisation o ON o.id = a.organisation") == [
        ("product_owner", "operator", "Betreiber")
    ]
    again = cli("operator", "create", "--email", "p.produkt@betreiber.example", secret_key=SECRET)
    assert again.returncode == 0  # a fresh link for the same invitation, no second account (counted below)
    # The operator's organisation is no provider: no admin is created there, and no product owner in a provider.
    refused = cli("admin", "create", "--org", "Betreiber", "--email", "chef@betreiber.example", secret_key=SECRET)
    assert refused.returncode == 1 and "operator create" in refused.stderr
    assert cli("admin", "create", "--org", "Pflege Nord", "--email", "chef@nord.example", secret_key=SECRET).returncode == 0
    clash = cli("operator", "create", "--email", "x@nord.example", secret_key=SECRET, operator_organisation="Pflege Nord")
    assert clash.returncode == 1 and "is a provider organisation" in clash.stderr
    assert _rows(database, "SELECT count(*) FROM account WHERE role = 'product_owner'") == [(1,)]


def test_flows_publish_and_export(cli, tmp_path):
    assert cli("db", "upgrade").returncode == 0
    draft = tmp_path / "onboarding.yaml"
    draft.write_text(shipped_text(version=3, expiry="336h"), encoding="utf-8")

    published = cli("flows", "publish", str(draft))

    assert published.returncode == 0, published.stderr
    assert "Published onboarding version 3 (was 2)" in published.stdout
    assert _rows(tmp_path / "cli.sqlite", "SELECT flow_version, published_by FROM flow_publication") == [(3, "cli:flows-publish")]
    exported = cli("flows", "export", "onboarding")
    assert exported.returncode == 0 and exported.stdout == draft.read_text(encoding="utf-8")
    older = cli("flows", "export", "onboarding", "--version", "2")
    assert older.stdout == shipped_text()
    assert cli("flows", "export", "onboarding", "--version", "9").returncode == 1
    twice = cli("flows", "publish", str(draft))
    assert twice.returncode == 1 and "höher als 3" in twice.stderr
    draft.write_text(shipped_text(version=4, drop="    role: activated"), encoding="utf-8")
    lacking = cli("flows", "publish", str(draft))
    assert lacking.returncode == 1 and "'activated'" in lacking.stderr
