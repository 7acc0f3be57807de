"""Chromium for browser tests, and axe-core for accessibility checks.

Playwright cannot download its own browsers here; Debian's Chromium is launched instead
(see STACK.md, "Browser tests"). axe-core comes inside the axe-playwright-python wheel,
so nothing is fetched at run time. The async API is used: it shares the test's event
loop with the test's database handle (pytest-asyncio, auto mode)."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.environment import chromium_path, require
from web.auth import SESSION_COOKIE
from web.i18n import LANGUAGE_COOKIE

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# WCAG 2.0/2.1 A and AA (BITV 2.0) plus axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def require_chromium() -> str:
    path = chromium_path()
    require(path is not None, "Chromium (Debian package chromium)")
    return path


@asynccontextmanager
async def chromium():
    """A headless Chromium, closed afterwards."""
    from playwright.async_api import async_playwright

    path = require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def admin_context(browser, base_url: str, session_token: str | None, language: str | None = None, **options):
    """A browser context whose cookie jar holds the admin's session for the loopback host;
    with `language`, also the cookie the language switch sets (it beats the language of
    a person's profile, which Accept-Language does not)."""
    options.setdefault("locale", "de-DE")
    options.setdefault("viewport", {"width": 1280, "height": 900})
    context = await browser.new_context(base_url=base_url, **options)
    context.set_default_timeout(10_000)
    host = urlsplit(base_url).hostname
    cookies = []
    if session_token is not None:
        cookies.append({"name": SESSION_COOKIE, "value": session_token, "domain": host, "path": "/",
                        "httpOnly": True, "sameSite": "Lax", "secure": False})
    if language is not None:
        cookies.append({"name": LANGUAGE_COOKIE, "value": language, "domain": host, "path": "/",
                        "httpOnly": True, "sameSite": "Lax", "secure": False})
    if cookies:
        await context.add_cookies(cookies)
    return context


class PageProblems:
    """What went wrong in a page, for assertion messages: console errors and warnings
    (CSP violations among them), uncaught errors, failed requests, and HTTP error
    statuses (kept apart in `statuses`: a 422 can be expected)."""

    def __init__(self, page):
        self.messages: list[str] = []
        self.statuses: list[tuple[int, str]] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.messages.append(f"page error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type not in ("error", "warning"):
            return
        if message.text.startswith("Failed to load resource"):
            return  # the response handler records the status and URL
        self.messages.append(f"console {message.type}: {message.text} ({message.location.get('url', '')})")

    def _failed(self, request) -> None:
        failure = request.failure or ""
        # An EventSource or fetch cut off by navigation or context close is not a problem.
        if "ERR_ABORTED" not in failure:
            self.messages.append(f"request failed: {request.method} {request.url}: {failure}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.statuses.append((response.status, f"{response.request.method} {urlsplit(response.url).path}"))

    def unexpected(self, *allowed: int) -> list[str]:
        return self.messages + [f"HTTP {status}: {what}" for status, what in self.statuses if status not in allowed]

    def __str__(self) -> str:
        return "\n".join(self.unexpected()) or "(no problems)"


_AXE_SCRIPT: str | None = None


def axe_script() -> str:
    global _AXE_SCRIPT
    if _AXE_SCRIPT is None:
        import axe_playwright_python

        _AXE_SCRIPT = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
    return _AXE_SCRIPT


async def axe_violations(page, context: Any = None) -> list[dict]:
    """Run axe-core in the page (through the DevTools protocol, so the page's CSP does not
    block it) and return its violations."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(axe_script())
    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    results = await page.evaluate(
        "([context, options]) => axe.run(context || document, options)", [context, options]
    )
    return results["violations"]


def describe_violations(violations: list[dict], where: str) -> str:
    lines = [f"axe-core found {len(violations)} violation(s) on {where}:"]
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact')}): {v['help']} <{v.get('helpUrl', '')}>")
        for node in v["nodes"][:10]:
            lines.append(f"    at {json.dumps(node['target'])}: {node.get('html', '')[:200]}")
            summary = node.get("failureSummary")
            if summary:
                lines.extend(f"      {line}" for line in summary.splitlines())
    return "\n".join(lines)


async def assert_no_axe_violations(page, where: str, context: Any = None) -> None:
    violations = await axe_violations(page, context)
    assert not violations, describe_violations(violations, where)


async def horizontal_overflow(page) -> dict | None:
    """None when the page does not scroll sideways, else the sizes and the widest elements."""
    return await page.evaluate(
        """() => {
            const root = document.scrollingElement;
            if (root.scrollWidth <= root.clientWidth) return null;
            const wide = [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5)
                .slice(0, 8)
                .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                          (e.className && typeof e.className === 'string' ? '.' + e.className.trim().replace(/\\s+/g, '.') : '') +
                          ' right=' + Math.round(e.getBoundingClientRect().right));
            return {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, widest: wide};
        }"""
    )


# Where a heading's rendered text moves to a new line between two letters, and what the
# line ends with: a soft hyphen (U+00AD, drawn as "-") or "-" is a proper hyphenation.
_BROKEN_WORDS_JS = """() => {
  const letter = /[A-Za-zÄÖÜäöüß]/;
  const found = [];
  for (const heading of document.querySelectorAll('h1, h2, h3, h4, h5, h6, .badge')) {
    if (!heading.getClientRects().length) continue;  // hidden screens of the app
    const walker = document.createTreeWalker(heading, NodeFilter.SHOW_TEXT);
    let previous = null;  // {char, top} of the last drawn character
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.data.length; i++) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        // A character at a line's start can also report a box at the previous line's end: take the last.
        const rects = range.getClientRects();
        const rect = rects[rects.length - 1];
        const char = node.data[i];
        if (!rect || rect.width === 0) {
          // Collapsed spaces and unused soft hyphens draw nothing, yet still separate.
          previous = {char, top: previous ? previous.top : -Infinity};
          continue;
        }
        if (previous && rect.top > previous.top + 2 && letter.test(char) && letter.test(previous.char)) {
          found.push(heading.tagName.toLowerCase() + ': "' + heading.textContent.trim().replace(/\u00ad/g, '') + '" breaks before "' +
                     node.data.slice(i, i + 8) + '"');
        }
        previous = {char, top: rect.top};
      }
    }
  }
  return found;
}"""


async def words_broken_without_hyphen(page) -> list[str]:
    """Headings and badges whose rendered lines split a word with no hyphen drawn."""
    return await page.evaluate(_BROKEN_WORDS_JS)
