"""The real app behind a real socket, for browser tests.

uvicorn serves `create_app(settings, clock)` on a free loopback port, in a background
thread with its own event loop, so the test's own loop (and its database handle) and
the server never share a loop. Start-up is bounded: /health is polled until it answers
200, the thread dies, or the deadline passes."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from collections.abc import Iterator

import uvicorn

from core.crypto import fast_pin_hasher
from partnerportal.app import create_app

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class ServerThread(threading.Thread):
    def __init__(self, app, port: int):
        super().__init__(name=f"uvicorn-{port}", daemon=True)
        config = uvicorn.Config(
            app, host=HOST, port=port, loop="none", http="h11", ws="none", lifespan="on",
            log_level="warning", access_log=False, timeout_graceful_shutdown=3,
        )
        self.server = uvicorn.Server(config)
        self.error: BaseException | None = None

    def run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.server.serve())
        except BaseException as exc:  # reported by wait_until_healthy / stop
            self.error = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.join(timeout)
        if self.is_alive():
            self.server.force_exit = True
            self.join(timeout)
        if self.is_alive():
            raise RuntimeError(f"the app server on port {self.server.config.port} did not stop within {2 * timeout:.0f} s")


def wait_until_healthy(thread: ServerThread, base_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"the app server stopped during start-up: {thread.error!r}")
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=1) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise RuntimeError(f"the app server did not become healthy within {timeout:.0f} s (last: {last})")


@contextmanager
def running_server(settings, clock=None, startup_timeout: float = 15.0, pin_hasher=None, **app_options) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) of the running app; stop it afterwards.
    `app_options` go to create_app (e.g. live_keepalive_seconds)."""
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    # Cheap argon2id parameters: the browser tests check behaviour, not hashing cost.
    thread = ServerThread(create_app(settings, clock, pin_hasher=pin_hasher or fast_pin_hasher(), **app_options), port)
    thread.start()
    try:
        wait_until_healthy(thread, base_url, startup_timeout)
        yield base_url
    finally:
        thread.stop()
        if thread.error is not None:
            raise RuntimeError("the app server failed") from thread.error
