"""Request metrics: Litestar's Prometheus middleware, each label set's series found once.

The metrics, their names, labels and values are Litestar's (`PrometheusMiddleware`, used as
`PrometheusConfig.middleware_class`). Per request it builds a Request and asks
prometheus_client's `labels()` four times (each validates the values and takes a lock);
here a route's series are looked up once per process and kept: ~0.05 ms of the
middleware's ~0.15 ms per page, measured in-process (docs/benchmarks-nutzerverwaltung.md,
issue 12 round 4)."""

from __future__ import annotations

import time
from typing import Any

from litestar.plugins.prometheus import PrometheusMiddleware
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

# What Litestar's middleware reports as the status while the response has not started.
STATUS_BEFORE_RESPONSE = 200


class RequestMetrics(PrometheusMiddleware):
    def __init__(self, app: Any, config: Any) -> None:
        super().__init__(app, config)
        # Litestar's own code path for what this class does not repeat.
        self._plain = bool(config.labels or config.exemplars or config.excluded_http_methods or not config.group_path)
        self._in_progress: dict[tuple[str, str], Any] = {}
        self._finished: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _labels(self, method: str, path: str, status: int) -> dict[str, Any]:
        # The label names and order of PrometheusMiddleware._get_default_labels.
        return {"method": method, "path": path, "status_code": status, "app_name": self._config.app_name}

    async def __call__(self, scope, receive, send) -> None:
        if self._plain:
            await super().__call__(scope, receive, send)
            return
        method = scope["method"] if scope["type"] == "http" else scope["type"]
        path = scope["path_template"]
        in_progress = self._in_progress.get((method, path))
        if in_progress is None:
            labels = self._labels(method, path, STATUS_BEFORE_RESPONSE)
            in_progress = self._in_progress[(method, path)] = self.requests_in_progress(labels).labels(*labels.values())
        span = {"start": time.perf_counter(), "duration": 0.0, "status": STATUS_BEFORE_RESPONSE}

        async def timed_send(message) -> None:
            if message["type"] == "http.response.start":
                span["status"] = message["status"]
            elif message["type"] == "http.response.body":
                span["duration"] = time.perf_counter() - span["start"]
            await send(message)

        in_progress.inc()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            in_progress.dec()
            status = span["status"]
            if status >= HTTP_500_INTERNAL_SERVER_ERROR:
                labels = self._labels(method, path, status)
                self.requests_error_count(labels).labels(*labels.values()).inc()
            series = self._finished.get((method, path, status))
            if series is None:
                labels = self._labels(method, path, status)
                series = self._finished[(method, path, status)] = (
                    self.request_count(labels).labels(*labels.values()),
                    self.request_time(labels).labels(*labels.values()),
                )
            series[0].inc()
            series[1].observe(span["duration"])
