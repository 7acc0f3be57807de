"""`partnerportal worker` fires timers that fell due while nothing was running."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta, timezone

from db.tables import FlowInstance
from core.clock import FrozenClock
from partnerportal.worker import run_worker
from workflows.service import FlowService


async def test_worker_fires_overdue_timers_on_start(db, registry, settings):
    # Invited long ago (the clock of the inviting process stood 800 hours back).
    past = FrozenClock(datetime.now(timezone.utc) - timedelta(hours=800))
    inviting = FlowService(db, registry, past)
    from tests.support.factories import Factory

    record = await Factory(db, inviting).invite()
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(dataclasses.replace(settings, sweep_interval_seconds=3600), stop))
    try:
        for _ in range(200):  # the first sweep runs at start; poll for its result (max ~10 s)
            row = await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == record.id))
            if row["state"] == "expired":
                break
            await asyncio.sleep(0.05)
        assert row["state"] == "expired"
    finally:
        stop.set()
        assert await asyncio.wait_for(worker, 10) == 0
