"""The web app together with its timer scheduler: what `partnerportal serve` runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from core import log_redaction
from core.crypto import PinHasher
from core.settings import Settings
from jobs.scheduler import create_scheduler
from web import app as web_app


def create_app(settings: Settings | None = None, clock=None, pin_hasher: PinHasher | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    background = _run_scheduler(settings) if settings.scheduler_enabled else None
    return web_app.create_app(settings, clock, pin_hasher, background=background)


def create_app_from_environment() -> Litestar:
    """What each web process of `partnerportal serve --workers N` (N > 1) runs: uvicorn
    imports this factory by name in every process it starts, so the settings come from the
    environment, and the access log's redaction (LOG-2) is installed in that process."""
    log_redaction.install()
    settings = Settings.from_env()
    app = web_app.create_app(settings)  # no scheduler here: `serve` runs it in one process beside these
    app.state.scheduler_process = settings.scheduler_enabled  # /health says where it runs
    return app


def _run_scheduler(settings: Settings):
    @asynccontextmanager
    async def run(app: Litestar) -> AsyncIterator[None]:
        scheduler = create_scheduler(
            app.state.service, settings.sweep_interval_seconds, settings.sweep_batch_size,
            settings=settings, signer=app.state.signer,
        )
        scheduler.start()
        app.state.scheduler = scheduler  # /health reports it
        try:
            yield
        finally:
            scheduler.shutdown(wait=False)

    return run
