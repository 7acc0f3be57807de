"""Shared fixtures. The database engine comes from PARTNERPORTAL_DATABASE_URL
(empty: a SQLite file in a temporary folder); see tests/support/environment.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from db.engine import Database
from core.clock import FrozenClock
from core.settings import Settings
from tests.support import database as test_db
from tests.support.environment import DATABASE_URL, ENGINE
from tests.support.factories import Factory
from workflows.registry import FlowRegistry
from workflows.service import FlowService

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def pytest_collection_modifyitems(config, items):
    # Engine-specific tests (query plans) run in the pass of their engine only.
    other = "postgres" if ENGINE == "sqlite" else "sqlite_only"
    selected = [i for i in items if other not in i.keywords]
    deselected = [i for i in items if other in i.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def pytest_report_header(config):
    return f"partnerportal test database engine: {ENGINE}"


REPOSITORY = Path(__file__).resolve().parent.parent
# Caches and build output of the tools, not of the code under test.
NOT_WATCHED = frozenset({".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "build"})


def files_under(root: Path) -> set[str]:
    found: set[str] = set()
    for folder, folders, files in os.walk(root):
        folders[:] = [f for f in folders if f not in NOT_WATCHED and not f.endswith(".egg-info")]
        found.update(str(Path(folder, name).relative_to(root)) for name in files)
    return found


@pytest.fixture(scope="session", autouse=True)
def working_tree_stays_clean():
    """No test writes into the repository (a CLI run in its root once left
    var/development-secret-key behind): a file that appears during the run fails it."""
    before = files_under(REPOSITORY)
    yield
    # scripts/walkthrough_screenshots.py asks the walkthrough to write its pictures here.
    asked_for = os.environ.get("PARTNERPORTAL_SCREENSHOT_DIR")
    if asked_for:
        asked_for = str(Path(asked_for).resolve().relative_to(REPOSITORY.resolve()))
    if new := sorted(f for f in files_under(REPOSITORY) - before if not (asked_for and f.startswith(asked_for + "/"))):
        pytest.fail(f"The test run wrote into the working tree: {', '.join(new)}. Use tmp_path (and cwd=tmp_path).")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    if ENGINE == "postgres":
        url = test_db.run(test_db.create_postgres_database(DATABASE_URL))
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
    test_db.run(test_db.migrate(url))
    yield url
    if ENGINE == "postgres":
        test_db.run(test_db.drop_postgres_database(DATABASE_URL, url))


@pytest.fixture
async def db(database_url) -> Database:
    database = Database(database_url)
    await database.start(pool_size=4)
    await test_db.empty_all_tables(database)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def registry() -> FlowRegistry:
    return FlowRegistry.from_directory()


@pytest.fixture
async def service(db, registry, clock) -> FlowService:
    from workflows import flow_snapshots

    await flow_snapshots.sync(db, registry)
    return FlowService(db, registry, clock)


@pytest.fixture
def factory(db, service) -> Factory:
    return Factory(db, service)


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        scheduler_enabled=False,
        base_url="http://test",
    )
