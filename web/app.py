"""The app factory: `create_app(settings)` builds everything from one settings object."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from db import flow_snapshots
from db.engine import Database
from db.migrate import ensure_migrated
from jobs.scheduler import create_scheduler
from partnerportal.clock import SystemClock
from partnerportal.crypto import PinHasher
from partnerportal.signing import Signer
from partnerportal.settings import Settings
from web.routes import ROUTES
from web.controllers.dev_mailbox import DEV_MAILBOX_PATH, dev_mailbox_enabled
from web.errors import EXCEPTION_HANDLERS
from web.formatting import datetime_de
from web.live import KEEP_ALIVE_SECONDS, ChangeFeed, SessionChecks
from web.security import add_security_headers
from web.texts import MAIL_LABELS, text
from workflows.registry import FlowRegistry
from workflows.service import FlowService

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).parent


def create_app(
    settings: Settings | None = None, clock=None, pin_hasher: PinHasher | None = None,
    live_keepalive_seconds: float = KEEP_ALIVE_SECONDS,
) -> Litestar:
    """`live_keepalive_seconds`: how often a quiet live stream re-checks its session and
    sends a keep-alive (tests shorten it rather than wait)."""
    settings = settings or Settings.from_env()
    if settings.secret_generated:
        log.warning(
            "Development mode: no PARTNERPORTAL_SECRET_KEY set; using a generated one kept in "
            "var/development-secret-key (never do this in production)."
        )
    clock = clock or SystemClock()
    db = Database(settings.database_url)
    registry = FlowRegistry.from_directory(settings.flows_dir or None)
    service = FlowService(db, registry, clock)
    live_feed = ChangeFeed(db)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.start()
        try:
            await ensure_migrated(db)
            await flow_snapshots.sync(db, registry)
            if settings.scheduler_enabled:
                app.state.scheduler = create_scheduler(
                    service, settings.sweep_interval_seconds, settings.sweep_batch_size,
                    settings=settings, signer=app.state.signer,
                )
                app.state.scheduler.start()
            yield
        finally:
            await live_feed.stop()
            if app.state.scheduler is not None:
                app.state.scheduler.shutdown(wait=False)
            await db.close()

    def configure_templates(engine: JinjaTemplateEngine) -> None:
        engine.engine.filters["datetime_de"] = datetime_de
        engine.engine.globals.update(
            t=text,
            mail_labels=MAIL_LABELS,
            # The session a handler already loaded for this request (see web/auth.py), or None.
            session_of=lambda request: request.scope.get("state", {}).get("session_info") if request else None,
            session_idle_seconds=settings.session_idle_minutes * 60,
            base_url=settings.base_url,
            portal_name=settings.portal_name,
            dev_mailbox_enabled=dev_mailbox_enabled(settings),
            dev_mailbox_url=DEV_MAILBOX_PATH,
        )

    return Litestar(
        route_handlers=ROUTES,
        lifespan=[lifespan],
        state=State({"settings": settings, "db": db, "registry": registry, "service": service, "clock": clock, "scheduler": None,
                     "live_feed": live_feed, "diagram_cache": {}, "live_keepalive_seconds": live_keepalive_seconds,
                     "session_checks": SessionChecks(db, clock, timedelta(minutes=settings.session_idle_minutes)),
                     "signer": Signer(settings.secret_key), "pin_hasher": pin_hasher or PinHasher()}),
        template_config=TemplateConfig(
            directory=WEB_DIR / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=configure_templates,
        ),
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_secure=not settings.is_development,
            cookie_samesite="lax",
            cookie_httponly=False,  # the token is read from the page, not the cookie; harmless either way
            # The app's API carries no cookies (it proves itself with code, signature and PIN).
            exclude=["^/api/app/"],
        ),
        plugins=[HTMXPlugin()],
        before_send=[add_security_headers],
        exception_handlers=EXCEPTION_HANDLERS,
        debug=False,
    )
