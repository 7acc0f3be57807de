"""The web app together with its timer scheduler: what `partnerportal serve` runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from core.crypto import PinHasher
from core.settings import Settings
from jobs.scheduler import create_scheduler, stop_scheduler
from partnerportal import logs
from partnerportal.metrics import start_metrics_server
from web import app as web_app


def create_app(settings: Settings | None = None, clock=None, pin_hasher: PinHasher | None = None, **options) -> Litestar:
    """`options` go to the web app's factory (e.g. `live_keepalive_seconds` in tests)."""
    settings = settings or Settings.from_env()
    return web_app.create_app(settings, clock, pin_hasher, background=_beside_the_app(settings), **options)


def create_app_from_environment() -> Litestar:
    """What each web process of `partnerportal serve --workers N` (N > 1) runs: uvicorn
    imports this factory by name in every process it starts, so the settings come from the
    environment and the logging (secrets masked, LOG-2) is configured in that process."""
    settings = Settings.from_env()
    logs.configure(settings.log_format)
    # Nothing beside: `serve` runs the scheduler and the metrics port once, in a `worker` process.
    app = web_app.create_app(settings)
    app.state.scheduler_process = settings.scheduler_enabled  # /health says where it runs
    return app


def _beside_the_app(settings: Settings):
    """The timer scheduler (unless disabled) and the operator's metrics port (if set)."""

    @asynccontextmanager
    async def run(app: Litestar) -> AsyncIterator[None]:
        state = app.state
        metrics = start_metrics_server(settings.metrics_host, settings.metrics_port, state.db, state.clock) if settings.metrics_port else None
        if settings.scheduler_enabled:
            state.scheduler = create_scheduler(
                state.service, settings.sweep_interval_seconds, settings.sweep_batch_size,
                settings=settings, signer=state.signer, wakeups=state.wakeups,
            )
            state.scheduler.start()  # /health reports it
        try:
            yield
        finally:
            if state.scheduler is not None:
                await stop_scheduler(state.scheduler)
            if metrics is not None:
                metrics.stop()

    return run
