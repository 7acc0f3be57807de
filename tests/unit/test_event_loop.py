"""Every command runs on the loop `serve` gets from uvicorn: uvloop where it is installed."""

import asyncio
import importlib.util

import pytest

from core import event_loop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_commands_run_on_uvloop_where_it_is_installed():
    if importlib.util.find_spec("uvloop") is None:
        pytest.skip("uvloop is not installed here (it comes with uvicorn[standard] on Linux and macOS)")
    assert event_loop.run(_loop_module()).startswith("uvloop")


def test_the_result_and_the_exception_of_the_coroutine_come_back():
    async def answer() -> int:
        return 42

    async def fail() -> None:
        raise LookupError("kein Eintrag")

    assert event_loop.run(answer()) == 42
    with pytest.raises(LookupError, match="kein Eintrag"):
        event_loop.run(fail())
