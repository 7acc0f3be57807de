"""Browser tests: real Chromium (Playwright, async API), the real app served by uvicorn on
a loopback port, the database of the current pass (SQLite or PostgreSQL).

Each test gets a fresh server (the `db` fixture empties the tables first, and the
app's live feed starts from the history as it is) and its own Chromium."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.admin import login_session
from tests.support.browser import PageProblems, admin_context, chromium, require_chromium
from tests.support.server import running_server


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def live_server(db, settings, clock):
    """Base URL of the app, running against the test database (tables already emptied)."""
    require_chromium()  # no browser, no reason to start a server
    with running_server(settings, clock) as base_url:
        yield base_url


@dataclass
class Admin:
    context: object
    organisation_id: int
    account_id: int
    problems: list[PageProblems] = field(default_factory=list)

    async def page(self, path: str | None = None):
        page = await self.context.new_page()
        self.problems.append(PageProblems(page))
        if path is not None:
            await page.goto(path)
        return page

    def assert_no_problems(self, *allowed_statuses: int, ignore: str = "") -> None:
        found = [m for p in self.problems for m in p.unexpected(*allowed_statuses) if not (ignore and ignore in m)]
        assert not found, "problems in the browser:\n" + "\n".join(found)


@dataclass
class Portal:
    base_url: str
    browser: object
    db: object
    clock: object
    factory: object
    screenshot_dir: Path
    _shots: int = 0

    async def admin(self, organisation_id: int | None = None, **context_options) -> Admin:
        """A new browser context holding a fresh admin session (of a new organisation unless given)."""
        organisation_id = organisation_id or await self.factory.organisation()
        account_id = await self.factory.account(organisation_id, role="admin")
        token = await login_session(self.db, self.clock, account_id, organisation_id)
        context = await admin_context(self.browser, self.base_url, token, **context_options)
        return Admin(context, organisation_id, account_id)

    async def anonymous(self, **context_options):
        return await admin_context(self.browser, self.base_url, None, **context_options)

    async def screenshot(self, page, name: str) -> Path:
        self._shots += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = self.screenshot_dir / f"{self._shots:02d}-{slug}.png"
        # caret="initial": hiding the caret leaves style="" on inputs, which htmx's settle
        # step would copy onto swapped-in inputs, and the CSP (rightly) refuses that.
        await page.screenshot(path=str(path), full_page=True, caret="initial")
        return path


@pytest.fixture
async def portal(live_server, db, clock, factory, tmp_path):
    screenshot_dir = tmp_path / "screenshots"
    screenshot_dir.mkdir()
    async with chromium() as browser:
        yield Portal(live_server, browser, db, clock, factory, screenshot_dir)
