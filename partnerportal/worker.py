"""`partnerportal worker`: the scheduler without the web server, for extra processes."""

from __future__ import annotations

import asyncio
import logging
import signal

from db.engine import Database
from db.migrate import ensure_migrated
from jobs.scheduler import create_scheduler
from workflows import flow_snapshots, publication
from core.clock import SystemClock
from partnerportal import logs
from workflows.registry import load_registry
from partnerportal.metrics import start_metrics_server
from core.settings import Settings
from workflows.service import FlowService


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> int:
    logs.configure(settings.log_format)
    for warning in settings.start_warnings():
        logging.getLogger(__name__).warning(warning)
    db = Database(settings.database_url)
    await db.start()
    try:
        await ensure_migrated(db)
        registry = load_registry(settings)
        clock = SystemClock()
        await flow_snapshots.sync(db, registry, clock)
        following = asyncio.create_task(publication.follow(db, registry, settings.flow_refresh_seconds))
        scheduler = create_scheduler(
            FlowService(db, registry, clock), settings.sweep_interval_seconds, settings.sweep_batch_size,
            settings=settings,
        )
        metrics = start_metrics_server(settings.metrics_host, settings.metrics_port, db, clock) if settings.metrics_port else None
        scheduler.start()
        # apscheduler's own lines are silenced below WARNING (partnerportal/logs.py); this
        # one tells operators (and tests starting a worker) that it runs.
        logging.getLogger(__name__).info(
            "Worker started: timers and mail every %g s, flow publications every %g s",
            settings.sweep_interval_seconds, settings.flow_refresh_seconds,
        )
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        scheduler.shutdown(wait=False)
        if metrics is not None:
            metrics.stop()
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        return 0
    finally:
        await db.close()
