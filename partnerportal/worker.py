"""`partnerportal worker`: the scheduler without the web server, for extra processes."""

from __future__ import annotations

import asyncio
import logging
import signal

from db.engine import Database
from db.migrate import ensure_migrated
from db.wakeups import WakeUps
from jobs.scheduler import create_scheduler, stop_scheduler
from workflows import flow_snapshots, publication
from core.clock import SystemClock
from partnerportal import logs
from workflows.registry import load_registry
from partnerportal.metrics import start_metrics_server
from core.settings import Settings
from workflows.service import FlowService


async def run_worker(settings: Settings, stop: asyncio.Event | None = None, scheduler_on: bool = True) -> int:
    """`scheduler_on=False`: only the metrics port (`serve --workers N` with the scheduler off)."""
    logs.configure(settings.log_format)
    for warning in settings.start_warnings():
        logging.getLogger(__name__).warning(warning)
    db = Database(settings.database_url)
    # The scheduler's jobs run when PostgreSQL notifies them (one LISTEN connection).
    wakeups = WakeUps(settings.database_url, settings.wake_fallback_seconds)
    await db.start()
    try:
        await ensure_migrated(db)
        registry = load_registry(settings)
        clock = SystemClock()
        await flow_snapshots.sync(db, registry, clock)
        following = asyncio.create_task(publication.follow(db, registry, settings.flow_refresh_seconds))
        if scheduler_on:
            await wakeups.start()
        scheduler = create_scheduler(
            FlowService(db, registry, clock), settings.sweep_interval_seconds, settings.sweep_batch_size,
            settings=settings, wakeups=wakeups,
        ) if scheduler_on else None
        metrics = start_metrics_server(settings.metrics_host, settings.metrics_port, db, clock) if settings.metrics_port else None
        if scheduler is not None:
            scheduler.start()
            # apscheduler's own lines are muted (partnerportal/logs.py); say once that it runs.
            logging.getLogger(__name__).info("Scheduler started (%s)", _rhythm(settings, wakeups))
        # This line tells operators (and tests starting a worker) that the worker runs.
        logging.getLogger(__name__).info(
            "Worker started: timers and mail %s, flow publications every %g s",
            _rhythm(settings, wakeups) if scheduler is not None else "off", settings.flow_refresh_seconds,
        )
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        if scheduler is not None:
            await stop_scheduler(scheduler)
        if metrics is not None:
            metrics.stop()
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        return 0
    finally:
        await wakeups.stop()
        await db.close()


def _rhythm(settings: Settings, wakeups: WakeUps) -> str:
    if wakeups.active:
        return f"when notified, else every {settings.wake_fallback_seconds:g} s"
    return f"every {settings.sweep_interval_seconds:g} s"
