"""Vorschau's simulation: the recorded history of the last N days replayed under a draft
with a shorter expiry says which invitations would have ended differently. It runs as a
database job: started by a POST, shown with a progress bar, run by any scheduler that
claims it, resumed after a crash, never run twice at once."""

from __future__ import annotations

import asyncio
import re

from db import flow_simulations
from db.tables import FlowSimulation
from jobs.simulations import LEASE, run_simulations
from tests.support.app import running_app
from tests.support.flow_copies import shipped_text
from tests.support.product_owner import product_owner


async def _history(factory, service, clock) -> None:
    """Three invitations: one waiting since day 0, one done on day 0, one from day 19."""
    await factory.invite()  # day 0, never starts the registration
    done = await factory.invite()
    clock.advance(hours=1)
    await service.send(done.id, "complete_profile", data={"first_name": "A", "last_name": "B"})
    await service.send(done.id, "activate_device")
    await service.send(done.id, "consent")
    clock.advance(days=19)
    await factory.invite()  # day 19: its 336 h have not run out
    clock.advance(days=1)


async def _start(owner, days="30") -> str:
    draft = (await owner.post("/ablaeufe/onboarding/entwurf")).headers["location"]
    await owner.post(draft, {"text": shipped_text(version=3, expiry="336h")})
    started = await owner.post(f"{draft}/simulation", {"tage": days})
    assert started.status_code == 303, started.text
    return started.headers["location"]


async def test_a_started_simulation_shows_its_progress_and_then_what_would_differ(settings, db, clock, factory, service):
    await _history(factory, service, clock)
    async with running_app(settings, clock) as (_, client):
        owner = await product_owner(client, db, clock)
        location = await _start(owner)
        assert re.fullmatch(r"/ablaeufe/simulation/\d+", location)

        waiting = await owner.get(location)
        assert waiting.status_code == 200
        assert '<progress id="simulation-bar" max="3" value="0">' in waiting.text
        assert "0 von 3 Einladungen nachgespielt" in waiting.text
        assert f'<a href="{location}">Aktualisieren</a>' in waiting.text  # without JavaScript
        assert f'hx-get="{location}" hx-trigger="every 1s"' in waiting.text  # with htmx

        assert await run_simulations(db, clock) == 1

        polled = await owner.get(location, headers={"HX-Request": "true"})
        assert polled.text.lstrip().startswith('<div id="simulation">')  # no trigger: polling stops
        assert '<progress id="simulation-bar" max="3" value="3">' in polled.text
        assert "Abgeschlossen: 3 Einladungen im Zeitraum nachgespielt." in polled.text
        assert "<li>1 Einladung wäre jetzt „Abgelaufen“ statt „Eingeladen“.</li>" in polled.text
        assert "„Ablaufen“: 1 Einladung, die nächste am" in polled.text
        assert "Aktualisieren" not in polled.text

        only_recent = await owner.get(await _start(owner, days="2"))
        assert await run_simulations(db, clock) == 1
        only_recent = await owner.get(only_recent.url.path)
        assert "Abgeschlossen: 1 Einladung im Zeitraum nachgespielt." in only_recent.text
        assert "Keine Einladung stünde heute anders." in only_recent.text


async def test_bad_days_are_refused_at_the_field_and_a_get_starts_nothing(settings, db, clock, factory, service):
    async with running_app(settings, clock) as (_, client):
        owner = await product_owner(client, db, clock)
        draft = (await owner.post("/ablaeufe/onboarding/entwurf")).headers["location"]
        wrong = await owner.post(f"{draft}/simulation", {"tage": "viele"})
        assert wrong.status_code == 422
        assert 'id="days-error">Bitte geben Sie eine Zahl von Tagen zwischen 1 und 365 ein.' in wrong.text
        assert 'value="viele"' in wrong.text
        assert (await owner.get(f"{draft}/vorschau", params={"tage": "30"})).status_code == 200
        assert (await owner.get(f"{draft}/simulation")).status_code == 405
        assert await db.fetch(FlowSimulation.select()) == []


class ProcessDies(BaseException):
    """Stands for the end of a process (kill -9 between two writes)."""


class DyingDatabase:
    """The real database, but its process dies before the write after `writes` writes."""

    def __init__(self, db, writes: int):
        self._db, self._left = db, writes

    async def write(self, steps):
        if self._left == 0:
            raise ProcessDies()
        self._left -= 1
        return await self._db.write(steps)

    def __getattr__(self, name):
        return getattr(self._db, name)


async def _started(db, clock, owner_location_days=30) -> int:
    from datetime import timedelta

    now = clock.now()
    since = now - timedelta(days=owner_location_days)
    rows = await db.write([flow_simulations.create_step(
        1, "onboarding", shipped_text(version=3, expiry="336h"), owner_location_days, since, now, 3, "account:1", now)])
    return rows[0][0]["id"]


async def test_a_simulation_whose_process_died_is_resumed_by_another_after_its_lease(db, clock, factory, service):
    await _history(factory, service, clock)
    reference_id = await _started(db, clock)
    assert await run_simulations(db, clock, worker="reference") == 1
    reference = await flow_simulations.get(db, reference_id)

    crashed_id = await _started(db, clock)
    try:  # claim, first chunk's progress, then the process dies
        await run_simulations(DyingDatabase(db, writes=2), clock, chunk=1, worker="first")
    except ProcessDies:
        pass
    crashed = await flow_simulations.get(db, crashed_id)
    assert (crashed["status"], crashed["replayed"], crashed["worker"]) == ("running", 1, "first")

    assert await run_simulations(db, clock, chunk=1, worker="second") == 0  # the lease still holds
    clock.advance(seconds=LEASE.total_seconds())
    assert await run_simulations(db, clock, chunk=1, worker="second") == 1
    resumed = await flow_simulations.get(db, crashed_id)
    assert (resumed["status"], resumed["replayed"], resumed["worker"]) == ("finished", 3, "second")
    assert resumed["summary"] == reference["summary"]  # the first chunk counted once


async def test_two_workers_never_run_the_same_simulation(db, clock, factory, service):
    await _history(factory, service, clock)
    simulation_id = await _started(db, clock)
    finished = await asyncio.gather(*(run_simulations(db, clock, chunk=1, worker=f"w{i}") for i in range(3)))
    assert sorted(finished) == [0, 0, 1]
    row = await flow_simulations.get(db, simulation_id)
    assert (row["status"], row["replayed"], row["summary"]["invitations"]) == ("finished", 3, 3)
