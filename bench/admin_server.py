"""The app as a real server process for the Nutzerverwaltung benchmarks, and /proc readings of it.

One uvicorn worker with the app factory (`web.app:create_app`), production settings, the
scheduler off, no access log (one log line per request would cost more than some pages).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PARTNERPORTAL_DATABASE_URL": url,
        "PARTNERPORTAL_ENVIRONMENT": "production",
        "PARTNERPORTAL_SECRET_KEY": secrets.token_urlsafe(48),
        "PARTNERPORTAL_SCHEDULER_ENABLED": "false",
        "PARTNERPORTAL_BASE_URL": "http://127.0.0.1",
        # Production requires a mail server; the table sends no mail (the scheduler is off).
        "PARTNERPORTAL_SMTP_HOST": "127.0.0.1",
        **extra,
    }


@dataclass
class Server:
    process: subprocess.Popen
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def serve(url: str, port: int | None = None, log: Path | None = None, app_dir: Path | None = None,
          workers: int = 1, app: str = "--factory web.app:create_app", **env: str) -> Iterator[Server]:
    """Start `uvicorn --factory web.app:create_app` on loopback; stop it (SIGINT, then SIGKILL) afterwards.

    `app_dir`: run the app from another checkout (e.g. an export of an older commit, to
    compare before and after a change); uvicorn imports it from its working directory.
    `app`: another application for uvicorn (bench/floor_app.py)."""
    port = port or free_port()
    command = [
        sys.executable, "-m", "uvicorn", *app.split(), "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning",
        "--app-dir", str(app_dir or ROOT),
    ]
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, cwd=app_dir or ROOT, env=app_env(url, **env), stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_listening(process, port)
        yield Server(process, port)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if log:
            out.close()


def _wait_listening(process: subprocess.Popen, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError("server did not start listening")


# -- /proc ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads) and of its live child processes
    (a server's workers), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return own + sum(cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                children += [int(c) for c in (task / "children").read_text().split()]
    return children


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class CpuMeter:
    """CPU share of one core used by a process between start() and stop()."""

    def __init__(self, pid: int):
        self.pid = pid
        self._cpu = self._wall = 0.0

    def start(self) -> "CpuMeter":
        self._cpu, self._wall = cpu_seconds(self.pid), time.monotonic()
        return self

    def stop(self) -> float:
        return (cpu_seconds(self.pid) - self._cpu) / (time.monotonic() - self._wall) * 100
