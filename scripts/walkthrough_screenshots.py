"""Regenerate the screenshots of docs/walkthrough.md.

Runs the manual's walkthrough test (tests/e2e/test_manual_walkthrough.py) in real
Chromium with PARTNERPORTAL_SCREENSHOT_DIR pointing at docs/screenshots; the test writes
one PNG per step there. Old PNGs are removed first, so the folder holds exactly the
screenshots of this run. Needs Debian's chromium (see the README's test section).

    python scripts/walkthrough_screenshots.py            # SQLite in a temporary folder
    PARTNERPORTAL_DATABASE_URL=postgresql://... python scripts/walkthrough_screenshots.py

Extra arguments go to pytest (e.g. -x, -v)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/e2e/test_manual_walkthrough.py"
OUTPUT = ROOT / "docs" / "screenshots"
SIZE_WARNING = 3 * 1024 * 1024


def main(argv: list[str]) -> int:
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        print("Chromium is missing (Debian: apt-get install chromium); no screenshots were made.", file=sys.stderr)
        return 2
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for old in OUTPUT.glob("*.png"):
        old.unlink()
    env = {**os.environ, "PARTNERPORTAL_SCREENSHOT_DIR": str(OUTPUT)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST, *argv], cwd=ROOT, env=env)
    shots = sorted(OUTPUT.glob("*.png"))
    if result.returncode != 0:
        print(f"The walkthrough test failed (exit code {result.returncode}); the screenshots are incomplete.", file=sys.stderr)
        return result.returncode
    if not shots:
        print("The walkthrough test wrote no screenshots (was it skipped?).", file=sys.stderr)
        return 1
    total = sum(p.stat().st_size for p in shots)
    print(f"{len(shots)} screenshots, {total / 1024:.0f} KiB, in {OUTPUT.relative_to(ROOT)}/")
    if total > SIZE_WARNING:
        print("Warning: more than 3 MiB of screenshots; consider smaller viewports.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
