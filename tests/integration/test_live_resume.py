"""The Nutzerverwaltung's live stream across outages (issue 10, section 2): the server
sends `retry:` and event ids, and a client that reconnects with Last-Event-ID (as a
browser's EventSource does by itself; `last_event_id` when our script opens a new one)
first receives the rows that changed while it was away. Over a real socket (uvicorn in a
thread): the in-process test client cannot stream an endless response."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

from db.tables import FlowInstance
from tests.support.admin import login_session
from tests.support.server import running_server
from web.auth import SESSION_COOKIE

EVENT_TIMEOUT = 30  # seconds; generous, an event normally arrives within 0.2 s


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Parsed SSE events (fields by name; comments skipped)."""
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            event[name] = event[name] + "\n" + value if name in event and name == "data" else value


async def next_event(events: AsyncIterator[dict[str, str]]) -> dict[str, str]:
    return await asyncio.wait_for(anext(events), EVENT_TIMEOUT)


def admin_event(service, instance_id_state: str) -> str:
    """An admin action the flow offers in this state (read from the flow file, not spelled here)."""
    flow = service.registry.current("onboarding").definition
    return next(t.event for t in flow.transitions if t.trigger == "admin" and instance_id_state in t.sources)


def label_of(service, state: str) -> str:
    return service.registry.current("onboarding").definition.states[state].label


async def state_of(db, instance_id: int) -> str:
    return (await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == instance_id)))["state"]


async def test_a_reconnecting_stream_gets_what_changed_while_it_was_away(settings, factory, service, db, clock):
    organisation_id = await factory.organisation()
    admin = await factory.account(organisation_id, role="admin")
    token = await login_session(db, clock, admin, organisation_id)
    away = await factory.invite(organisation_id)
    with running_server(settings, clock) as base_url:
        async with httpx.AsyncClient(base_url=base_url, cookies={SESSION_COOKIE: token}, timeout=EVENT_TIMEOUT) as client:
            # First visit: the stream says where it stands and how soon to come back.
            async with client.stream("GET", "/nutzerverwaltung/live") as response:
                assert response.status_code == 200
                events = sse_events(response)
                hello = await next_event(events)
            assert hello["event"] == "cursor" and hello["retry"] == "2000" and hello["id"] == hello["data"]
            last_id = int(hello["id"])

            # While the client is away (e.g. the server restarts), something happens.
            await service.send(away.id, admin_event(service, await state_of(db, away.id)), actor="admin@test")
            changed_state = await state_of(db, away.id)

            async with client.stream("GET", "/nutzerverwaltung/live", headers={"Last-Event-ID": str(last_id)}) as response:
                events = sse_events(response)
                hello = await next_event(events)
                assert int(hello["id"]) >= last_id
                # The rows changed since (with a look-back for late commits) come first, as they are now.
                caught_up = await next_event(events)
                assert caught_up["event"] == "row" and int(caught_up["id"]) == int(hello["id"])
                assert f'<tr id="person-{away.id}"' in caught_up["data"]
                assert label_of(service, changed_state) in caught_up["data"]


async def test_a_reconnect_after_an_error_answer_resumes_from_the_parameter(settings, factory, service, db, clock):
    """Our script's own reconnect (after e.g. a 503) passes the id as `last_event_id`."""
    organisation_id = await factory.organisation()
    admin = await factory.account(organisation_id, role="admin")
    token = await login_session(db, clock, admin, organisation_id)
    away = await factory.invite(organisation_id)
    with running_server(settings, clock) as base_url:
        async with httpx.AsyncClient(base_url=base_url, cookies={SESSION_COOKIE: token}, timeout=EVENT_TIMEOUT) as client:
            async with client.stream("GET", "/nutzerverwaltung/live") as response:
                last_id = int((await next_event(sse_events(response)))["id"])
            await service.send(away.id, admin_event(service, await state_of(db, away.id)), actor="admin@test")
            async with client.stream("GET", f"/nutzerverwaltung/live?last_event_id={last_id}") as response:
                events = sse_events(response)
                await next_event(events)
                caught_up = await next_event(events)
                assert caught_up["event"] == "row" and f'<tr id="person-{away.id}"' in caught_up["data"]


async def test_a_fresh_stream_replays_nothing_and_carries_ids_on_live_rows(settings, factory, service, db, clock):
    organisation_id = await factory.organisation()
    admin = await factory.account(organisation_id, role="admin")
    token = await login_session(db, clock, admin, organisation_id)
    earlier = await factory.invite(organisation_id)
    await service.send(earlier.id, admin_event(service, await state_of(db, earlier.id)), actor="admin@test")
    later = await factory.invite(organisation_id)
    with running_server(settings, clock) as base_url:
        async with httpx.AsyncClient(base_url=base_url, cookies={SESSION_COOKIE: token}, timeout=EVENT_TIMEOUT) as client:
            async with client.stream("GET", "/nutzerverwaltung/live") as response:
                events = sse_events(response)
                hello = await next_event(events)
                assert (await next_event(events))["event"] == "ready"  # nothing replayed before it
                await service.send(later.id, admin_event(service, await state_of(db, later.id)), actor="admin@test")
                row = await next_event(events)
    # The first row event is the live change, not a replay of the earlier one.
    assert row["event"] == "row" and f'<tr id="person-{later.id}"' in row["data"]
    assert int(row["id"]) >= int(hello["id"])


async def test_a_last_event_id_no_history_row_can_have_opens_a_fresh_stream(settings, factory, service, db, clock):
    """A forged or garbled id (out of the id column's range, not a number) is no position
    in the history: the stream starts as a fresh one instead of failing in the database."""
    organisation_id = await factory.organisation()
    admin = await factory.account(organisation_id, role="admin")
    token = await login_session(db, clock, admin, organisation_id)
    await factory.invite(organisation_id)
    with running_server(settings, clock) as base_url:
        async with httpx.AsyncClient(base_url=base_url, cookies={SESSION_COOKIE: token}, timeout=EVENT_TIMEOUT) as client:
            for forged in (str(2**31 + 2000), str(10**30), "-5", "12abc", "\u0661\u0662"):
                # As our script's parameter: a header carries ASCII only.
                async with client.stream("GET", "/nutzerverwaltung/live", params={"last_event_id": forged}) as response:
                    assert response.status_code == 200, forged
                    events = sse_events(response)
                    assert (await next_event(events))["event"] == "cursor", forged
                    assert (await next_event(events))["event"] == "ready", forged
