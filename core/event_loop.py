"""The event loop of every command: uvloop where it is installed, else asyncio's own.

`serve` already runs on uvloop, because uvicorn picks it when it is installed (it comes
with Litestar's `standard` extra, through `uvicorn[standard]`). The other commands, the
`worker` above all, ran on asyncio's loop: there a PostgreSQL round trip cost the process
~25 % more CPU and an SMTP conversation more too (measured in
docs/benchmarks-nutzerverwaltung.md, "Issue 12, round 6"). Now every process runs the same loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new loop, as `asyncio.run` does."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows, which uvloop does not support
        return asyncio.run(main)
    return uvloop.run(main)
