"""Metrics only a process knows, counted where they happen (jobs, web) and served by the
composition root's metrics server (partnerportal/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SMTP_ERRORS = Counter(
    "partnerportal_smtp_errors", "Failed SMTP deliveries by kind: temporary (4xx), permanent (5xx), "
    "refused (the server refuses us: connect, HELO or login), unreachable (no connection or timeout)", ["kind"],
)
LIVE_STREAMS = Gauge("partnerportal_live_streams", "Open live streams of the Nutzerverwaltung in this process")
