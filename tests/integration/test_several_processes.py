"""Several `partnerportal serve` processes on one database (SQLite file or, with
PARTNERPORTAL_DATABASE_URL, PostgreSQL): live updates, sessions and limits live in the
database, so what one process changes, another shows and enforces. And `serve --workers 2`
starts two web processes and the scheduler once."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from core.clock import SystemClock
from db.tables import FlowInstance
from tests.integration.test_cli import PARTNERPORTAL, clean_env
from tests.integration.test_serve_process import ServeProcess
from tests.support.admin import login_session
from tests.support.server import free_port

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
