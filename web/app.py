"""The app factory: `create_app(settings)` builds everything from one settings object."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import timedelta
from pathlib import Path

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.prometheus import PrometheusConfig
from litestar.template.config import TemplateConfig

from workflows import flow_snapshots, publication
from db.engine import Database
from db.migrate import ensure_migrated
from db.wakeups import WakeUps
from core import i18n
from core.clock import SystemClock
from core.crypto import PinHasher
from core.signing import Signer
from core.settings import Settings
from web.path_parameters import reject_impossible_path_parameters
from web.request_log import request_logging
from web.routes import ROUTES
from web.controllers.dev_mailbox import DEV_MAILBOX_PATH, dev_mailbox_enabled
from web.errors import EXCEPTION_HANDLERS, load_published_versions
from web.formatting import datetime_de
from web.hyphenation import hyphenate, load_dictionary
from web.i18n import apply_profile_language, language_links, language_middleware
from web.live import KEEP_ALIVE_SECONDS, ChangeFeed, SessionChecks
from web.auth import csrf_cookie_name
from web.controllers.users import TABLE_PAGES_KEPT
from web.rendering import RenderedMemo, url_for as cached_url_for
from web.return_path import return_query
from web.security import security_headers
from mail.texts import MAIL_LABELS
from core.portal_name import PortalName
from web.texts import text
from workflows.registry import load_registry
from workflows.service import FlowService

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).parent
# Request latency by route template (served by the metrics port, see partnerportal/metrics.py);
# the live stream's duration is no latency (the live_streams gauge counts the streams).
REQUEST_METRICS = PrometheusConfig(
    app_name="partnerportal", prefix="partnerportal_http", group_path=True,
    exclude=["^/static/", "^/nutzerverwaltung/live$"],
)


async def before_request(request) -> None:
    await reject_impossible_path_parameters(request)
    await apply_profile_language(request)


# What runs beside the web app while it serves (the composition root passes the
# scheduler); it gets the app once the database is ready.
Background = Callable[[Litestar], AbstractAsyncContextManager[None]]


def create_app(
    settings: Settings | None = None, clock=None, pin_hasher: PinHasher | None = None, background: Background | None = None,
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
    for warning in settings.start_warnings():
        log.warning(warning)
    clock = clock or SystemClock()
    db = Database(settings.database_url)
    registry = load_registry(settings)
    service = FlowService(db, registry, clock)
    # One LISTEN connection per process (PostgreSQL); it wakes the live feed and, where
    # this process runs it, the scheduler's jobs.
    wakeups = WakeUps(settings.database_url, settings.wake_fallback_seconds)
    live_feed = ChangeFeed(db, wakeups=wakeups)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.start()
        try:
            await ensure_migrated(db)
            await wakeups.start()
            await flow_snapshots.sync(db, registry, clock)
            # Versions published by any process become current here within this interval.
            following = asyncio.create_task(publication.follow(db, registry, settings.flow_refresh_seconds))
            load_dictionary()  # once per process: not a pause of the first page with a heading
            # What start-up built lives as long as the app: frozen, the collector no longer
            # walks it in every full collection (those took 70-240 ms with 100 live streams
            # on a busy machine, each a pause of every request and stream). Unfrozen at the
            # end, so a process that runs several apps one after another (tests) frees them.
            gc.collect()
            gc.freeze()
            try:
                async with background(app) if background else nullcontext():
                    yield
            finally:
                gc.unfreeze()
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
        finally:
            await live_feed.stop()
            await wakeups.stop()
            await db.close()

    def configure_templates(engine: JinjaTemplateEngine) -> None:
        # {% trans %} and _() in the request's language (web/i18n.py sets it per request).
        i18n.install_gettext(engine.engine)
        # Jinja checks every template file's mtime on each render to reload edits: wanted
        # while developing, a few stat calls per page for nothing in production.
        engine.engine.auto_reload = settings.is_development
        engine.engine.filters["datetime_de"] = datetime_de
        engine.engine.filters["format_datetime"] = i18n.format_datetime
        engine.engine.filters["format_date"] = i18n.format_date
        engine.engine.filters["format_time"] = i18n.format_time
        engine.engine.filters["format_number"] = i18n.format_number
        engine.engine.filters["hyphenate"] = hyphenate
        engine.engine.globals["url_for"] = cached_url_for
        engine.engine.globals.update(
            t=text,
            current_language=i18n.current_language,
            language_links=lambda request: language_links(request, settings.language_list()),
            mail_labels=MAIL_LABELS,
            # The session a handler already loaded for this request (see web/auth.py), or None.
            session_of=lambda request: request.scope.get("state", {}).get("session_info") if request else None,
            session_idle_seconds=settings.session_idle_minutes * 60,
            base_url=settings.base_url,
            portal_name=settings.portal_name,
            # "zum_portal", "beim_portal", ...: the name inside sentences (core/portal_name.py).
            **{k: v for k, v in PortalName(settings.portal_name, settings.portal_name_gender).forms().items() if k != "portal"},
            dev_mailbox_enabled=dev_mailbox_enabled(settings),
            dev_mailbox_url=DEV_MAILBOX_PATH,
            return_query=return_query,
            brand={"logo": bool(settings.brand_logo), "header_text": settings.brand_header_text,
                   "footer_text": settings.brand_footer_text, "primary_color": settings.brand_primary_color},
        )

    app = Litestar(
        route_handlers=ROUTES,
        lifespan=[lifespan],
        state=State({"settings": settings, "db": db, "registry": registry, "service": service, "clock": clock, "scheduler": None,
                     "live_feed": live_feed, "wakeups": wakeups, "diagram_cache": {}, "template_urls": {}, "table_rows": RenderedMemo(TABLE_PAGES_KEPT), "live_keepalive_seconds": live_keepalive_seconds,
                     "session_checks": SessionChecks(db, clock, timedelta(minutes=settings.session_idle_minutes)),
                     "signer": Signer(settings.secret_key), "pin_hasher": pin_hasher or PinHasher()}),
        template_config=TemplateConfig(
            directory=WEB_DIR / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=configure_templates,
        ),
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name=csrf_cookie_name(settings),
            cookie_secure=not settings.is_development,
            cookie_samesite="lax",
            cookie_httponly=False,  # the token is read from the page, not the cookie; harmless either way
            # The app's API carries no cookies (it proves itself with code, signature and PIN).
            exclude=["^/api/app/"],
        ),
        plugins=[HTMXPlugin()],
        middleware=[REQUEST_METRICS.middleware],
        before_request=before_request,
        before_send=[security_headers(production=not settings.is_development)],
        exception_handlers=EXCEPTION_HANDLERS,
        # The process configures logging (partnerportal/logs.py): one format, secrets masked.
        logging_config=None,
        after_exception=[load_published_versions],
        debug=False,
    )
    # Around everything, unknown paths included (Litestar's own middleware runs only for routes).
    app.asgi_handler = request_logging(language_middleware(app.asgi_handler, settings.language_list()))
    return app
