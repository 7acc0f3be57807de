"""Run the simulations product owners start on the Vorschau page: claim one, replay its
invitations chunk by chunk, write the progress after each chunk.

Any process's scheduler may run this: a simulation is claimed with a lease in the
database (db/flow_simulations.py), so two never run the same one, and one whose process
died is taken over once its lease has run out, from the last chunk written."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone

from db import flow_simulations, flow_versions
from db.engine import ConflictError, Database
from workflows import draft_check, simulation

log = logging.getLogger(__name__)
CHUNK = 5_000  # invitations per progress write
# A chunk takes well under a second; a worker silent this long is taken to be dead.
LEASE = timedelta(seconds=60)


def worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def run_simulations(db: Database, clock, chunk: int = CHUNK, lease: timedelta = LEASE,
                          worker: str | None = None) -> int:
    """Run unfinished simulations until none is left to claim; returns how many this call
    finished."""
    worker = worker or worker_id()
    finished = 0
    while (simulation_id := await flow_simulations.claim(db, worker, clock.now(), lease)) is not None:
        finished += await run_one(db, clock, simulation_id, worker, chunk, lease)
    return finished


async def run_one(db: Database, clock, simulation_id: int, worker: str, chunk: int = CHUNK,
                  lease: timedelta = LEASE) -> int:
    """Run one claimed simulation from where it stopped; 1 if it finished here, 0 if the
    lease was lost to another worker."""
    row = await flow_simulations.get(db, simulation_id)
    definition = draft_check.check_text(row["text"]).definition
    if definition is None:  # the draft had errors when it was started; the page said so
        await db.write([flow_simulations.failed_step(simulation_id, worker, clock.now())])
        return 0
    until, summary, replayed = _aware(row["until"]), simulation.Summary.from_json(row["summary"]), row["replayed"]
    batch: list = []
    last = row["last_instance"]
    try:
        async for instance_id, state, rows in flow_versions.histories_since(
            db, row["flow_name"], _aware(row["since"]), until=until, after=row["last_instance"]
        ):
            batch.append((state, [simulation.Recorded(r["event"], r["to_state"], r["actor"], _aware(r["created_at"]))
                                  for r in rows]))
            last = instance_id
            if len(batch) == chunk:
                replayed += _add(definition, batch, until, summary)
                await db.write([flow_simulations.progress_step(
                    simulation_id, worker, replayed, last, summary.as_json(), clock.now(), lease, finished=False)])
        replayed += _add(definition, batch, until, summary)
        await db.write([flow_simulations.progress_step(
            simulation_id, worker, replayed, last, summary.as_json(), clock.now(), lease, finished=True)])
    except ConflictError:
        log.warning("Simulation %s: another worker took it over; this one stops", simulation_id)
        return 0
    log.info("Simulation %s: %s invitations replayed", simulation_id, replayed)
    return 1


def _add(definition, batch: list, until: datetime, summary: simulation.Summary) -> int:
    simulation.summarise(definition, batch, until, summary)
    count = len(batch)
    batch.clear()
    return count


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
