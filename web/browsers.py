"""A coarse German description of a browser from its User-Agent ("Firefox auf Windows"),
shown with each login request in the app.

A dozen patterns are enough for browser family and operating system; a full parser
(ua-parser and its regex set of several hundred KB) would add versions and device
models that this description deliberately leaves out. The User-Agent is chosen by the
client, so the description is a hint for the person, never a security decision."""

from __future__ import annotations

import re

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(e|A|iOS)?/")),
    ("Opera", re.compile(r"\b(OPR|Opera)/")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\b(Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(HeadlessChrome|Chrome|CriOS|Chromium)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
)
_SYSTEMS = (
    ("iOS", re.compile(r"\b(iPhone|iPad|iPod)\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)
UNKNOWN_BROWSER = "Unbekannter Browser"
UNKNOWN_SYSTEM = "unbekanntem System"


def describe(user_agent: str | None) -> str:
    text = (user_agent or "")[:512]
    browser = next((name for name, pattern in _BROWSERS if pattern.search(text)), UNKNOWN_BROWSER)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(text)), UNKNOWN_SYSTEM)
    return f"{browser} auf {system}"
