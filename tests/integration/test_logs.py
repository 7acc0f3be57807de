"""Quiet, useful logs (issue 10, section 3): one line per request with a request id that
the error page shows too, JSON on request, no routine scheduler lines, one summary line
per mail round however many mails wait for a retry."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import time

import httpx

from jobs.scheduler import send_mail
from core.signing import Signer
from tests.conftest import TEST_SECRET
from tests.integration.test_cli import PARTNERPORTAL, clean_env
from tests.support.app import running_app
from tests.support.server import free_port
from tests.support.smtp import SmtpServer


async def test_every_response_has_a_request_id_that_the_error_page_and_the_log_show(settings, db, caplog):
    caplog.set_level(logging.INFO, logger="partnerportal.requests")
    async with running_app(settings) as (_, client):
        page = await client.get("/gibt-es-nicht", headers={"accept": "text/html"})
        api = await client.get("/api/app/gibt-es-nicht")
        health = await client.get("/health")
    request_id = page.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{12}", request_id)
    assert f"Fehlernummer (bitte bei Rückfragen angeben): <code>{request_id}</code>" in page.text
    assert api.json()["request_id"] == api.headers["X-Request-ID"] != request_id
    lines = [r for r in caplog.records if r.name == "partnerportal.requests"]
    assert [(r.method, r.path, r.status, r.request_id) for r in lines] == [
        ("GET", "/gibt-es-nicht", 404, request_id),
        ("GET", "/api/app/gibt-es-nicht", 404, api.headers["X-Request-ID"]),
        ("GET", "/health", 200, health.headers["X-Request-ID"]),
    ]


async def test_invitation_tokens_do_not_reach_the_request_log(settings, db, caplog):
    caplog.set_level(logging.INFO, logger="partnerportal.requests")
    async with running_app(settings) as (_, client):
        await client.get("/einladung/geheimes-token-0123456789abcdef")
    [line] = [r for r in caplog.records if r.name == "partnerportal.requests"]
    assert "geheimes-token" not in line.getMessage() and line.path == "/einladung/…"


def test_serve_logs_json_lines_without_scheduler_chatter(database_url, tmp_path, db):
    port = free_port()
    env = clean_env(database_url=database_url, secret_key=TEST_SECRET, log_format="json", sweep_interval_seconds="0.2")
    server = subprocess.Popen([str(PARTNERPORTAL), "serve", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)  # polling interval, not synchronisation
        # Let the scheduler run its jobs a few times (every 0.2 s) before stopping.
        for _ in range(10):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    records = [json.loads(line) for line in err.splitlines()]  # every line is JSON
    requests = [r for r in records if r["logger"] == "partnerportal.requests"]
    assert requests[0]["request_id"] == response.headers["X-Request-ID"]
    assert {(r["method"], r["path"], r["status"]) for r in requests} == {("GET", "/health", 200)}
    assert not [r for r in records if r["logger"].startswith("apscheduler") and r["level"] == "INFO"]
    assert not [r for r in records if r["logger"] == "uvicorn.access"]


async def test_a_mail_round_logs_one_line_however_many_mails_wait(factory, service, settings, caplog):
    for _ in range(5):
        await factory.invite()
    caplog.set_level(logging.DEBUG, logger="jobs")
    async with SmtpServer() as smtp:
        smtp.answer("451 4.3.0 Bitte später erneut")
        await send_mail(service, smtp.settings_for(settings), Signer(TEST_SECRET))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("jobs")]
    assert warnings == [
        "Mail: 0 sent, 5 to retry, 0 failed, 0 cancelled; retry because: 451 4.3.0 Bitte später erneut (5x)"
    ]
