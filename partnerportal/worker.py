"""`partnerportal worker`: the scheduler without the web server, for extra processes."""

from __future__ import annotations

import asyncio
import logging
import signal

from workflows import flow_snapshots, publication
from db.engine import Database
from db.migrate import ensure_migrated
from jobs.scheduler import create_scheduler
from core.clock import SystemClock
from core.settings import Settings
from workflows.registry import FlowRegistry
from workflows.service import FlowService


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for warning in settings.start_warnings():
        logging.getLogger(__name__).warning(warning)
    db = Database(settings.database_url)
    await db.start()
    try:
        await ensure_migrated(db)
        registry = FlowRegistry.from_directory(settings.flows_dir or None, settings.onboarding_flow)
        await flow_snapshots.sync(db, registry)
        following = asyncio.create_task(publication.follow(db, registry, settings.flow_refresh_seconds))
        scheduler = create_scheduler(
            FlowService(db, registry, SystemClock()), settings.sweep_interval_seconds, settings.sweep_batch_size,
            settings=settings,
        )
        scheduler.start()
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        scheduler.shutdown(wait=False)
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        return 0
    finally:
        await db.close()
