"""`partnerportal serve` as a real process behind a real socket: which client address the
app believes (NET-1) and what its access log prints (LOG-2) are decided by uvicorn's
configuration and logging, so these tests look at the process from outside.

Like tests/integration/test_cli.py they use a SQLite file of their own whatever the
suite's engine: the database is not what they test."""

from __future__ import annotations

import queue
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from db import links
from core.signing import Signer
from tests.integration.test_cli import PARTNERPORTAL, clean_env, run, sqlite_url
from tests.support.invitee import csrf_of
from tests.support.server import free_port

SECRET = "serve-process-test-secret-0123456789abcdef"
STARTUP_SECONDS = 60
FORGED = "203.0.113.7"


class ServeProcess:
    """The process, its merged stdout and stderr as lines, and an HTTP client for it."""

    def __init__(self, process: subprocess.Popen, base_url: str):
        self.process = process
        self.base_url = base_url
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of output: the process stopped

    def output_until(self, found: Callable[[str], bool], timeout: float = STARTUP_SECONDS) -> list[str]:
        """The lines printed up to and including the first that `found` accepts."""
        deadline = time.monotonic() + timeout
        lines = []
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise AssertionError(f"no such line within {timeout:.0f} s; output so far:\n" + "\n".join(self.seen)) from None
            if line is None:
                raise AssertionError("serve stopped; output:\n" + "\n".join(self.seen))
            self.seen.append(line)
            lines.append(line)
            if found(line):
                return lines


@contextmanager
def serving(folder: Path, **settings: str) -> Iterator[ServeProcess]:
    database = sqlite_url(folder / "serve.sqlite")
    env = dict(database_url=database, secret_key=SECRET, scheduler_enabled="false", **settings)
    migrated = run("db", "upgrade", cwd=folder, **env)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    process = subprocess.Popen(
        [str(PARTNERPORTAL), "serve", "--port", str(port)], cwd=folder,
        env={**clean_env(**env), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )
    server = ServeProcess(process, f"http://127.0.0.1:{port}")
    try:
        server.output_until(lambda line: "Application startup complete" in line)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        process.stdout.close()


def report_barrier(base_url: str, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        form = client.get("/barriere-melden")
        data = {"page_url": "", "description": "Der Kontrast der Knöpfe ist zu schwach.", "email": "",
                "_csrf_token": csrf_of(form.text)}
        return client.post("/barriere-melden", data=data, headers=headers)


def stored_client_ips(folder: Path) -> list[str]:
    with sqlite3.connect(folder / "serve.sqlite") as connection:
        return [row[0] for row in connection.execute("SELECT client_ip FROM barrier_report ORDER BY id")]


def access_line(server: ServeProcess, path_part: str) -> str:
    return server.output_until(lambda line: "partnerportal.requests" in line and path_part in line, timeout=30)[-1]


def test_net1_x_forwarded_for_is_ignored_without_trusted_proxies(tmp_path):
    """NET-1: by default no proxy is trusted: a client on the same machine cannot forge its
    address with X-Forwarded-For (uvicorn would believe it from 127.0.0.1)."""
    with serving(tmp_path) as server:
        response = report_barrier(server.base_url, {"X-Forwarded-For": FORGED})
        assert response.status_code == 303, response.text
        line = access_line(server, "POST /barriere-melden")
    assert stored_client_ips(tmp_path) == ["127.0.0.1"]
    assert re.search(r'partnerportal.requests: (\S+) POST /barriere-melden', line).group(1) == "127.0.0.1" and FORGED not in line


def test_net1_a_configured_trusted_proxy_passes_the_client_address_on(tmp_path):
    """NET-1: behind a configured proxy the client's address comes from X-Forwarded-For,
    the nearest address the proxies did not add themselves."""
    with serving(tmp_path, trusted_proxies="127.0.0.1, 10.0.0.0/8") as server:
        response = report_barrier(server.base_url, {"X-Forwarded-For": f"{FORGED}, 10.1.2.3"})
        assert response.status_code == 303, response.text
    assert stored_client_ips(tmp_path) == [FORGED]


def test_net1_a_proxy_that_is_not_the_peer_is_not_believed(tmp_path):
    """NET-1: trusting some other proxy address does not make the direct peer trusted."""
    with serving(tmp_path, trusted_proxies="10.0.0.5") as server:
        assert report_barrier(server.base_url, {"X-Forwarded-For": FORGED}).status_code == 303
    assert stored_client_ips(tmp_path) == ["127.0.0.1"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_log2_invitation_requests_get_an_access_line_with_the_token_masked(tmp_path, method):
    """LOG-2: a request to an invitation link is logged by the request log of a real `serve`
    as one line with the token masked, never as a logging error and a traceback."""
    token = links.new_token()
    signed = Signer(SECRET).sign("invitation-link", token)
    with serving(tmp_path) as server:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            page = client.get(f"/einladung/{signed}")
            if method == "POST":
                client.post(f"/einladung/{signed}", data={"_csrf_token": csrf_of(page.text)})
            client.get("/health")
        lines = server.output_until(lambda line: "partnerportal.requests" in line and "GET /health 200" in line, timeout=30)
    output = "\n".join(lines)
    assert "Logging error" not in output and "Traceback" not in output
    assert f"{method} /einladung/… 404" in output  # an unknown link (INV-8)
    assert token not in output and signed not in output and signed.split(".")[0] not in output


def test_net1_a_malformed_trusted_proxy_setting_stops_serve(tmp_path):
    """NET-1: a typo in the list must not silently trust nothing or everything."""
    result = run("serve", "--port", "9", cwd=tmp_path, database_url=sqlite_url(tmp_path / "x.sqlite"),
                 trusted_proxies="127.0.0.1, proxy.example")
    assert result.returncode == 2
    assert "Configuration error: PARTNERPORTAL_TRUSTED_PROXIES" in result.stderr and "'proxy.example'" in result.stderr
