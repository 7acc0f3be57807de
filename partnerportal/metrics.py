"""Prometheus metrics on a port of their own (PARTNERPORTAL_METRICS_PORT; off by default),
never on the public app.

Two kinds: what the database knows (transitions, due timers, outbox, login requests) is
read at scrape time, so it is right with any number of processes; what only a process
knows (SMTP errors, open live streams, request latency) is counted in that process, so
scrape every process (give each its own port) and sum in the query."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, disable_created_metrics, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from db import operations
from db.engine import Database
from core.settings import SettingsError

log = logging.getLogger(__name__)

SCRAPE_TIMEOUT_SECONDS = 10




class DatabaseCollector:
    """The database's numbers, read on the app's event loop when Prometheus scrapes."""

    def __init__(self, db: Database, clock, loop: asyncio.AbstractEventLoop):
        self.db, self.clock, self.loop = db, clock, loop

    def collect(self):
        up = GaugeMetricFamily("partnerportal_database_up", "1 if the database answered this scrape")
        try:
            future = asyncio.run_coroutine_threadsafe(operations.snapshot(self.db, self.clock.now()), self.loop)
            snap = future.result(SCRAPE_TIMEOUT_SECONDS)
        except Exception as exc:  # an outage is a value (0), not a failed scrape
            log.warning("Metrics: database unavailable (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        transitions = CounterMetricFamily(
            "partnerportal_transitions", "Transitions recorded in the history, by flow and event", labels=["flow", "event"]
        )
        for (flow, event), count in sorted(snap.transitions.items()):
            transitions.add_metric([flow, event], count)
        yield transitions
        yield GaugeMetricFamily("partnerportal_timers_due", "Timers due but not fired yet", value=snap.timers_due)
        yield GaugeMetricFamily(
            "partnerportal_timers_oldest_due_age_seconds", "How long the oldest unfired due timer has been due",
            value=snap.oldest_due_seconds,
        )
        outbox = GaugeMetricFamily("partnerportal_outbox_mails", "Mails in the outbox by status", labels=["status"])
        for status in ("pending", "sent", "failed", "cancelled"):
            outbox.add_metric([status], snap.outbox.get(status, 0))
        yield outbox
        yield GaugeMetricFamily(
            "partnerportal_outbox_retrying", "Pending mails that failed at least once and wait for another try",
            value=snap.outbox_retrying,
        )
        logins = GaugeMetricFamily(
            "partnerportal_login_requests", "Login requests by status (started = all; approved, denied, used, pending)",
            labels=["status"],
        )
        for status in ("pending", "approved", "denied", "used"):
            logins.add_metric([status], snap.login_requests.get(status, 0))
        yield logins


class _ProcessMetrics:
    """The process's own metrics (prometheus_client's default registry) next to the database's."""

    def collect(self):
        yield from REGISTRY.collect()


@dataclass
class MetricsServer:
    server: object
    thread: object

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def ensure_port_free(host: str, port: int) -> None:
    """For `serve`: a taken metrics port is a configuration error before uvicorn starts
    (inside the app's start-up it would be a traceback)."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SettingsError(f"PARTNERPORTAL_METRICS_PORT: cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def start_metrics_server(host: str, port: int, db: Database, clock) -> MetricsServer:
    """Serve /metrics on host:port from a thread; call in a running event loop."""
    disable_created_metrics()  # *_created series only double the output
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessMetrics())
    registry.register(DatabaseCollector(db, clock, asyncio.get_running_loop()))
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise SettingsError(f"PARTNERPORTAL_METRICS_PORT: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    log.info("Metrics on http://%s:%s/metrics", host, port)
    return MetricsServer(server, thread)
