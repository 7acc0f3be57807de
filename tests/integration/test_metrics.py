"""Prometheus metrics (issue 10, section 3): on a port of their own, never on the public
app; the database's numbers read at scrape time; the process's own counters."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
import time

import httpx
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from db.tables import Outbox, Timer
from jobs.outbox import dispatch_due_mail
from partnerportal.metrics import DatabaseCollector
from core.signing import Signer
from tests.conftest import TEST_SECRET
from tests.integration.test_cli import PARTNERPORTAL, clean_env
from tests.support.app import running_app
from tests.support.server import free_port
from tests.support.smtp import SmtpServer


def value(text: str, sample: str) -> float:
    """The value of one sample line (`name{labels}`) in Prometheus text."""
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    assert match, f"{sample} not in:\n{text}"
    return float(match.group(1))


async def scrape(db, clock) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db, clock, asyncio.get_running_loop()))
    # Prometheus scrapes from the metrics server's thread; the queries run on this loop.
    return (await asyncio.to_thread(generate_latest, registry)).decode()


async def test_database_numbers_are_read_at_scrape_time(factory, service, db, clock):
    first = await factory.invite()
    await factory.invite()
    await db.write([Outbox.update({Outbox.status: "failed"}).where(Outbox.instance == first.id)])
    clock.advance(hours=100)
    [oldest] = await db.fetch(
        Timer.select(Timer.due_at).where((Timer.status == "pending") & (Timer.due_at <= clock.now())).order_by(Timer.due_at).limit(1)
    )
    due = await db.fetch(Timer.select(Timer.id).where((Timer.status == "pending") & (Timer.due_at <= clock.now())))
    text = await scrape(db, clock)
    assert value(text, "partnerportal_database_up") == 1
    assert value(text, 'partnerportal_transitions_total{event="invite",flow="onboarding"}') == 2
    assert value(text, "partnerportal_timers_due") == len(due) > 0
    assert value(text, "partnerportal_timers_oldest_due_age_seconds") == (clock.now() - oldest["due_at"]).total_seconds()
    assert value(text, 'partnerportal_outbox_mails{status="failed"}') == 1
    assert value(text, 'partnerportal_outbox_mails{status="pending"}') == 1
    assert value(text, 'partnerportal_login_requests{status="approved"}') == 0


async def test_a_database_outage_is_a_value_not_a_failed_scrape(db, clock):
    await db.close()
    text = await scrape(db, clock)
    assert value(text, "partnerportal_database_up") == 0
    await db.start()


async def test_smtp_errors_are_counted_by_kind(factory, db, settings, clock, registry):
    def count(kind: str) -> float:
        return REGISTRY.get_sample_value("partnerportal_smtp_errors_total", {"kind": kind}) or 0.0

    await factory.invite()
    async with SmtpServer() as smtp:
        smtp.answer("451 4.3.0 Bitte später erneut")
        before = count("temporary")
        await dispatch_due_mail(db, smtp.settings_for(settings), clock, registry, Signer(TEST_SECRET))
        assert count("temporary") == before + 1
    unreachable = count("unreachable")
    clock.advance(hours=1)
    await dispatch_due_mail(db, smtp.settings_for(settings), clock, registry, Signer(TEST_SECRET))  # server stopped
    assert count("unreachable") == unreachable + 1


async def test_metrics_have_their_own_port_and_the_public_app_has_none(settings, db):
    port = free_port()
    configured = dataclasses.replace(settings, metrics_port=port)
    async with running_app(configured) as (_, client):
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/health")).status_code == 200
        async with httpx.AsyncClient() as operator:
            response = await operator.get(f"http://127.0.0.1:{port}/metrics")
        assert response.status_code == 200
        text = response.text
        assert value(text, "partnerportal_database_up") == 1
        assert value(text, "partnerportal_live_streams") == 0
        sample = 'partnerportal_http_request_duration_seconds_count{app_name="partnerportal",method="GET",path="/health",status_code="200"}'
        assert value(text, sample) >= 1
        assert "process_cpu_seconds_total" in text
    with pytest.raises(httpx.ConnectError):  # gone with the app
        async with httpx.AsyncClient() as operator:
            await operator.get(f"http://127.0.0.1:{port}/metrics")


def test_a_worker_serves_metrics_and_a_taken_port_is_a_configuration_error(database_url, tmp_path, db):
    port = free_port()
    env = clean_env(database_url=database_url, secret_key=TEST_SECRET, metrics_port=str(port), sweep_interval_seconds="3600")
    worker = subprocess.Popen([str(PARTNERPORTAL), "worker"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert worker.poll() is None, worker.communicate()
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the worker's metrics port never answered"
                time.sleep(0.1)  # polling interval, not synchronisation
        assert value(text, "partnerportal_database_up") == 1
        second = subprocess.run([str(PARTNERPORTAL), "worker"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert second.stderr.endswith(f"Configuration error: PARTNERPORTAL_METRICS_PORT: cannot listen on 127.0.0.1:{port} (Address already in use)\n")
    finally:
        worker.kill()
        worker.communicate()


async def test_the_documented_metrics_are_the_ones_served(settings, db):
    """docs/operations.md lists every partnerportal_* metric, and the dashboard uses only those."""
    import json
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    listed = set(re.findall(r"^\| `(partnerportal_\w+)` \|", (docs / "operations.md").read_text(encoding="utf-8"), re.M))
    port = free_port()
    async with running_app(dataclasses.replace(settings, metrics_port=port)) as (_, client):
        await client.get("/health")
        async with httpx.AsyncClient() as operator:
            text = (await operator.get(f"http://127.0.0.1:{port}/metrics")).text
    served = set(re.findall(r"^# TYPE (partnerportal_\w+) (\w+)$", text, re.M))
    names = {name.removesuffix("_total") + ("_total" if kind == "counter" else "") for name, kind in served}
    # Litestar creates the error counter at the first request that raised (in this process,
    # possibly an earlier test's): the page names it in the sentence after the table.
    lazy = "partnerportal_http_requests_error_total"
    assert f"After the first request that raised an error, also `{lazy}`" in " ".join(
        (docs / "operations.md").read_text(encoding="utf-8").split()
    )
    assert listed == names - {lazy}
    dashboard = json.loads((docs / "grafana-dashboard.json").read_text(encoding="utf-8"))
    used = {m for panel in dashboard["panels"] for target in panel["targets"] for m in re.findall(r"partnerportal_\w+", target["expr"])}
    assert {re.sub(r"_(bucket|count|sum)$", "", m) for m in used} <= listed


def test_serve_with_a_taken_metrics_port_is_a_configuration_error(database_url, tmp_path, db):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_env(database_url=database_url, secret_key=TEST_SECRET, metrics_port=str(port))
        result = subprocess.run([str(PARTNERPORTAL), "serve", "--port", "9"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == f"Configuration error: PARTNERPORTAL_METRICS_PORT: cannot listen on 127.0.0.1:{port} (Address already in use)\n"


async def test_request_metrics_count_every_request_by_route_and_status(settings, db):
    """Each request is counted and timed once by route and status, and none stays in progress."""

    def sample(name: str, status: str) -> float:
        labels = {"app_name": "partnerportal", "method": "GET", "path": "/health", "status_code": status}
        return REGISTRY.get_sample_value(name, labels) or 0.0

    async with running_app(settings) as (_, client):
        requests = sample("partnerportal_http_requests_total", "200")
        timed = sample("partnerportal_http_request_duration_seconds_count", "200")
        for _ in range(3):
            assert (await client.get("/health")).status_code == 200
        assert sample("partnerportal_http_requests_total", "200") == requests + 3
        assert sample("partnerportal_http_request_duration_seconds_count", "200") == timed + 3
        assert sample("partnerportal_http_requests_in_progress", "200") == 0
