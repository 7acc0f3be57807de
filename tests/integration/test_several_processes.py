"""Several `partnerportal serve` processes on one database (SQLite file or, with
PARTNERPORTAL_DATABASE_URL, PostgreSQL): live updates, sessions and limits live in the
database, so what one process changes, another shows and enforces. And `serve --workers 2`
starts two web processes and the scheduler once. On PostgreSQL, two `serve`s and two
`worker`s are woken by NOTIFY (issue 12)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from pathlib import Path

from datetime import timedelta

import httpx
import pytest

from core.clock import FrozenClock, SystemClock
from db.engine import Database, Sql
from db.tables import Account, FlowInstance, Timer, TransitionHistory
from db.wakeups import APPLICATION_NAME, LIVE, Bell, WakeUps
from tests.integration.test_cli import PARTNERPORTAL, clean_env
from tests.integration.test_serve_process import ServeProcess
from tests.support.admin import login_session
from tests.support.server import free_port
from tests.support.tcp_proxy import TcpProxy
from workflows.service import FlowService

SECRET = "several-processes-test-secret-0123456789abcdef"
WAIT = 60  # seconds a process may take to answer on a shared, busy machine (not a bound under test)
TABLE = "/nutzerverwaltung/"


@contextmanager
def serving(database_url: str, folder: Path, *args: str, **settings: str) -> Iterator[ServeProcess]:
    env = {"database_url": database_url, "secret_key": SECRET, "scheduler_enabled": "false", **settings}
    port = free_port()
    process = subprocess.Popen(
        [str(PARTNERPORTAL), "serve", "--port", str(port), *args], cwd=folder,
        env={**clean_env(**env), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )
    server = ServeProcess(process, f"http://127.0.0.1:{port}")
    try:
        server.output_until(lambda line: "Application startup complete" in line)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        process.stdout.close()


async def sse_events(stream: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event, data) of each message of a Server-Sent Events stream; comments skipped."""
    event, data = "message", []
    async for line in stream.aiter_lines():
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


async def csrf_token(client: httpx.AsyncClient) -> str:
    page = await client.get(TABLE)
    assert page.status_code == 200, page.status_code
    return re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)


def admin_client(server: ServeProcess, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, cookies={"pp_session": token}, timeout=WAIT)


async def test_lim1_ses9_two_serve_processes_share_live_changes_sessions_and_limits(database_url, db, factory, tmp_path):
    """A revocation through process A reaches an open table of process B (SSE); eight
    parallel invitations through both against a limit of 3 create exactly 3 (LIM-1); a
    logout through A ends the session in B at once."""
    org = await factory.organisation()
    admin_id = await factory.account(org, role="admin")
    person = await factory.invite(org, "wird.widerrufen@example.org")
    token = await login_session(db, SystemClock(), admin_id, org)  # the servers run on the system clock
    with ExitStack() as stack:
        a, b = (stack.enter_context(serving(database_url, tmp_path, "--workers", "1", invites_per_admin_per_hour="3"))
                for _ in range(2))
        async with admin_client(a, token) as via_a, admin_client(b, token) as via_b:
            csrf_a, csrf_b = await csrf_token(via_a), await csrf_token(via_b)
            async with via_b.stream("GET", "/nutzerverwaltung/live") as stream:
                events = sse_events(stream)
                # The stream's cursor (its event id) first, then ready: no change is missed after it.
                assert (await asyncio.wait_for(anext(events), WAIT))[0] == "cursor"
                assert (await asyncio.wait_for(anext(events), WAIT))[0] == "ready"
                revoked = await via_a.post(f"/nutzerverwaltung/{person.id}/revoke", data={"confirmed": "1"},
                                           headers={"X-CSRFToken": csrf_a, "HX-Request": "true"})
                assert revoked.status_code == 200
                event, data = await asyncio.wait_for(anext(events), WAIT)
                assert event == "row" and f'id="person-{person.id}"' in data and ">Widerrufen<" in data
                await events.aclose()

            async def invite(number: int) -> int:
                client, csrf = (via_a, csrf_a) if number % 2 else (via_b, csrf_b)
                data = {"salutation": "Frau", "first_name": "Ina", "last_name": "Grenze", "email": f"ina{number}@example.org"}
                return (await client.post(TABLE, data=data, headers={"X-CSRFToken": csrf})).status_code

            statuses = await asyncio.gather(*(invite(n) for n in range(8)))
            assert sorted(statuses) == [303] * 3 + [429] * 5
            invited = await db.fetch(FlowInstance.select(FlowInstance.id).where(FlowInstance.organisation == org))
            assert len(invited) == 1 + 3

            assert (await via_a.post("/abmelden", headers={"X-CSRFToken": csrf_a})).status_code == 303
            ended = await via_b.get(TABLE, headers={"accept": "text/html"})
            assert ended.status_code == 401


def descendants(pid: int) -> list[str]:
    """The command lines of a process's children and their children."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            for child in (task / "children").read_text().split():
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(cmdline)
                todo.append(int(child))
    return found


async def test_serve_workers_starts_that_many_web_processes_and_the_scheduler_once(database_url, db, tmp_path):
    with serving(database_url, tmp_path, "--workers", "2", scheduler_enabled="true") as server:
        for text, count in (("Application startup complete", 2), ("Scheduler started", 1)):
            while sum(text in line for line in server.seen) < count:
                server.output_until(lambda line: text in line)
        children = descendants(server.process.pid)
        assert sum("partnerportal.cli worker" in c for c in children) == 1
        assert sum("multiprocessing.spawn" in c for c in children) == 2
        async with httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client:
            health = (await client.get("/health")).json()
        # The web processes run no scheduler; the one `worker` process beside them does.
        assert health == {"status": "ok", "database": "ok", "scheduler": "separate process", "flows": {"onboarding": 2}}


@contextmanager
def working(database_url: str, folder: Path, **settings: str) -> Iterator[ServeProcess]:
    """A `partnerportal worker` (the scheduler: timers and mail), once it runs."""
    env = {"database_url": database_url, "secret_key": SECRET, **settings}
    process = subprocess.Popen(
        [str(PARTNERPORTAL), "worker"], cwd=folder, env={**clean_env(**env), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )
    worker = ServeProcess(process, "")
    try:
        worker.output_until(lambda line: "Worker started" in line)
        yield worker
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        process.stdout.close()


async def listener_backend(db: Database, client_ports: set[int]) -> int:
    """The backend of the wake-up listener that connected from one of these ports."""
    rows = await db.fetch(Sql(
        FlowInstance, "SELECT pid FROM pg_stat_activity WHERE application_name = {} AND client_port = ANY({})",
        APPLICATION_NAME, sorted(client_ports),
    ))
    assert len(rows) == 1, rows
    return rows[0]["pid"]


async def next_row_event(events: AsyncIterator[tuple[str, str]]) -> str:
    event, data = await asyncio.wait_for(anext(events), WAIT)
    assert event == "row", (event, data)
    return data


async def invite_long_ago(db: Database, registry, organisation: int, count: int) -> list[int]:
    """`count` invitations made 73 hours ago: each has its inactivity reminder due now."""
    clock = FrozenClock(SystemClock().now() - timedelta(hours=73))
    service = FlowService(db, registry, clock)
    emails = [f"frueher{n}@example.org" for n in range(count)]
    accounts = await db.write([Account.insert(*(
        Account(organisation=organisation, email=email, role="staff", first_name="Frieda", last_name="Früher")
        for email in emails
    )).returning(Account.id)])
    # Four at a time (the test's pool): the workers sweep while the invitations come in.
    ids, slots = [], asyncio.Semaphore(4)

    async def invite(account_id: int, email: str) -> None:
        async with slots:
            record, _ = await service.start("onboarding", organisation, account_id, actor="admin@test", recipient=email)
        ids.append(record.id)

    await asyncio.gather(*(invite(row["id"], email) for row, email in zip(accounts[0], emails)))
    return ids


@pytest.mark.postgres
async def test_two_serves_and_two_workers_are_woken_by_postgresql(database_url, db, factory, registry, tmp_path):
    """Every process polls only once an hour, so all that happens here is woken by NOTIFY:
    an admin's live table on process A sees a badge change made through process B; a
    change whose NOTIFY process A missed while its listener was down (killed with
    pg_terminate_backend, reconnect held back by a proxy) reaches the table after the
    reconnect; 2 000 timers falling due are fired exactly once by two workers together."""
    org = await factory.organisation()
    admin_id = await factory.account(org, role="admin")
    first, second = await factory.invite(org, "erste@example.org"), await factory.invite(org, "zweite@example.org")
    token = await login_session(db, SystemClock(), admin_id, org)
    proxy = TcpProxy.for_database(database_url)
    await proxy.start()
    via_proxy = proxy.url(database_url)
    settings = {"wake_fallback_seconds": "3600"}
    async with AsyncExitStack() as stack:
        # A's database traffic runs through the proxy in this event loop: start it off the loop.
        a = await asyncio.to_thread(stack.enter_context, serving(via_proxy, tmp_path, "--workers", "1", **settings))
        stack.push_async_callback(proxy.cut)  # before A stops: its connections end at once
        b = stack.enter_context(serving(database_url, tmp_path, "--workers", "1", **settings))
        workers = [stack.enter_context(working(database_url, tmp_path, **settings)) for _ in range(2)]
        async with admin_client(a, token) as via_a, admin_client(b, token) as via_b:
            csrf_b = await csrf_token(via_b)

            async def revoke(person) -> None:
                response = await via_b.post(f"/nutzerverwaltung/{person.id}/revoke", data={"confirmed": "1"},
                                            headers={"X-CSRFToken": csrf_b, "HX-Request": "true"})
                assert response.status_code == 200

            async with via_a.stream("GET", "/nutzerverwaltung/live") as stream:
                events = sse_events(stream)
                assert (await asyncio.wait_for(anext(events), WAIT))[0] == "cursor"
                assert (await asyncio.wait_for(anext(events), WAIT))[0] == "ready"
                await revoke(first)
                data = await next_row_event(events)
                assert f'id="person-{first.id}"' in data and ">Widerrufen<" in data

                await proxy.pause()
                killed = await db.fetch(Sql(FlowInstance, "SELECT pg_terminate_backend({}) AS killed",
                                            await listener_backend(db, proxy.upstream_ports())))
                assert killed == [{"killed": True}]
                await asyncio.to_thread(a.output_until, lambda line: "Wake-up listener lost its connection" in line)
                await revoke(second)  # its NOTIFY reaches B and the workers, not A
                await proxy.start(port=proxy.port)
                data = await next_row_event(events)
                assert f'id="person-{second.id}"' in data and ">Widerrufen<" in data
                await events.aclose()

        due = await invite_long_ago(db, registry, org, 2000)
        await asyncio.wait_for(all_fired(db, due), 10 * WAIT)
        history = await db.fetch(Sql(
            TransitionHistory,
            "SELECT instance, count(*) AS times FROM transition_history "
            "WHERE event = 'remind_inactive' AND instance = ANY({}) GROUP BY instance",
            due,
        ))
        assert len(history) == 2000 and {row["times"] for row in history} == {1}
        assert all(worker.process.poll() is None for worker in workers)


async def all_fired(db: Database, instances: list[int]) -> None:
    """Until no reminder of these instances is pending; woken by each NOTIFY of the history."""
    wakeups = WakeUps(db.url, 3600)
    bell = Bell()
    wakeups.on(LIVE, bell.ring)
    await wakeups.start()
    try:
        while True:
            pending = await db.fetch(Sql(
                Timer, "SELECT count(*) AS n FROM timer WHERE event = 'remind_inactive' AND status = 'pending' "
                "AND instance = ANY({})", instances,
            ))
            if pending[0]["n"] == 0:
                return
            await bell.wait(WAIT)
    finally:
        await wakeups.stop()
