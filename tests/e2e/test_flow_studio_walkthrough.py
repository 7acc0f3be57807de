"""The flow studio end to end: a product owner shortens the invitation's expiry from
720 h to 336 h in real Chromium (seeing a validation error first, then the diff), and
publishes. A web process and a worker, started as separate `partnerportal` processes
before the publication, follow it without a restart: the next invitation mail, received
by a real SMTP server, says "336 Stunden", while an invitation started before keeps
its 720 h."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
from playwright.async_api import expect

from core.clock import SystemClock
from db import sessions
from db.tables import FlowInstance, Timer, TransitionHistory
from tests.integration.test_cli import PARTNERPORTAL, clean_env
from tests.support.admin import AdminBrowser, give_consent, login_session
from tests.support.browser import admin_context
from tests.support.flow_copies import shipped_text
from tests.support.product_owner import operator_account
from tests.support.server import free_port
from tests.support.smtp import SmtpServer, parts

DEADLINE = 60  # s: start-up of a process, a mail's way through the worker; failure bound only
FOLLOW_DEADLINE = 10  # s: the promise a publication makes to every running process


class Process:
    """A `partnerportal` command running in the background, its output as lines."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.process = subprocess.Popen(
            [str(PARTNERPORTAL), *args], env={**clean_env(**env), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_line(self, text: str, timeout: float = DEADLINE) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} within {timeout} s:\n" + "\n".join(self.seen)) from None
            if line is None:
                raise AssertionError("the process stopped:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if text in line:
                return

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        self.process.stdout.close()


@contextmanager
def started(args: list[str], env: dict[str, str], ready: str) -> Iterator[Process]:
    process = Process(args, env)
    try:
        process.wait_for_line(ready)
        yield process
    finally:
        process.stop()


def flow_version_served(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/health", timeout=5) as response:
        return json.loads(response.read())["flows"]["onboarding"]


def until(condition, timeout: float, what: str):
    """Poll a condition (no fixed sleep decides anything); the deadline only bounds a failure."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


async def mail_to(smtp: SmtpServer, address: str) -> str:
    import asyncio

    deadline = time.monotonic() + DEADLINE
    while True:
        for message in smtp.messages:
            if address in str(message["To"]):
                return parts(message)[0]
        assert time.monotonic() < deadline, f"no mail to {address}; received: {[m['To'] for m in smtp.messages]}"
        await asyncio.sleep(0.1)


async def test_a_published_expiry_reaches_a_running_web_process_and_worker(portal, db, clock, settings, database_url):
    async with SmtpServer() as smtp:
        port = free_port()
        env = dict(database_url=database_url, secret_key=settings.secret_key, smtp_host=smtp.host, smtp_port=str(smtp.port),
                   flow_refresh_seconds="1", base_url=f"http://127.0.0.1:{port}")
        # One web process: /health below must speak for the process that takes the invitation
        # (with --workers N each process follows on its own, within the refresh interval).
        with started(["serve", "--port", str(port), "--workers", "1"], {**env, "scheduler_enabled": "false"},
                     "Application startup complete") as web, \
                started(["worker"], {**env, "sweep_interval_seconds": "0.5"}, "Worker started") as worker:
            web_url = f"http://127.0.0.1:{port}"
            assert flow_version_served(web_url) == 2

            # An organisation admin invites someone through the separate web process.
            organisation = await portal.factory.organisation()
            admin_id = await portal.factory.account(organisation, role="admin")
            await give_consent(db, clock, admin_id, organisation)
            token = await sessions.create(db, "login", admin_id, organisation, SystemClock().now(), timedelta(hours=12))
            async with httpx.AsyncClient(base_url=web_url, timeout=30) as client:
                admin = AdminBrowser(client, token)
                before = await admin.invite(first_name="Vera", last_name="Vorher", email="vorher@example.org")
                assert before.status_code == 303, before.text
                assert "720 Stunden" in await mail_to(smtp, "vorher@example.org")

                # The product owner, in Chromium, on the portal process.
                account_id, operator = await operator_account(db)
                context = await admin_context(portal.browser, portal.base_url, await login_session(db, clock, account_id, operator))
                page = await context.new_page()
                await page.goto("/ablaeufe/")
                await page.get_by_role("button", name=re.compile("Neuer Entwurf")).click()
                editor = page.get_by_label("Ablauf (YAML)")
                text = await editor.input_value()
                assert "    purpose: expiry\n    after: 720h\n" in text
                await editor.fill(text.replace("    after: 720h\n", "    after: 336 Stunden\n", 1))
                await expect(page.locator("#draft-problems")).to_contain_text("timers[0].after")
                line = text.split("\n").index("    after: 720h") + 1
                await expect(page.locator("#draft-problems")).to_contain_text(
                    f"Zeile {line}, Schlüssel timers[0].after: '336 Stunden' ist keine Dauer wie 720h, 3d oder 10m.")
                await editor.fill(text.replace("    after: 720h\n", "    after: 336h\n", 1))
                await expect(page.locator("#draft-problems")).to_contain_text("keine Fehler")
                await page.get_by_role("button", name="Prüfen und speichern").click()
                await page.get_by_role("link", name="Vorschau").click()
                await expect(page.get_by_text("Frist der Einladung: 720 h → 336 h")).to_be_visible()
                await page.get_by_role("button", name="Version 3 veröffentlichen").click()
                await expect(page.get_by_role("status")).to_contain_text("ist veröffentlicht")

                # Both separate processes follow without a restart.
                until(lambda: flow_version_served(web_url) == 3, FOLLOW_DEADLINE, "the web process serves version 3")
                worker.wait_for_line("Flow onboarding: new instances start on version 3", FOLLOW_DEADLINE)
                after = await admin.invite(first_name="Nora", last_name="Nachher", email="nachher@example.org")
                assert after.status_code == 303, after.text
                assert "336 Stunden" in await mail_to(smtp, "nachher@example.org")

                rows, timers = await invitations(db)
                running, fresh = rows["vorher@example.org"], rows["nachher@example.org"]
                assert (running["flow_version"], fresh["flow_version"]) == (2, 3)
                # The web process reads its clock twice while inviting (history, then timers): < 1 s apart.
                assert timedelta(0) <= timers[running["id"]] - running["created_at"] - timedelta(hours=720) < timedelta(seconds=1)
                assert timedelta(0) <= timers[fresh["id"]] - fresh["created_at"] - timedelta(hours=336) < timedelta(seconds=1)

                # Then the product owner migrates the running invitation; its expiry follows 336 h.
                await page.goto("/ablaeufe/")
                await page.get_by_role("link", name="Migrieren von Version 2").click()
                await page.get_by_role("button", name="Migration starten").click()
                await expect(page.get_by_role("status")).to_contain_text("Abgeschlossen: 1 Einladung migriert.")
                rows, timers = await invitations(db)
                assert rows["vorher@example.org"]["flow_version"] == 3
                assert timedelta(0) <= timers[running["id"]] - running["created_at"] - timedelta(hours=336) < timedelta(seconds=1)


async def invitations(db) -> tuple[dict, dict]:
    """Invitations by address (version, invited at) and their pending expiry times."""
    rows = await db.fetch(
        FlowInstance.select(FlowInstance.id, FlowInstance.flow_version, FlowInstance.account.email.as_alias("email"))
    )
    # The time of the invitation, as its first transition wrote it (the timer counts from it).
    invited_at: dict = {}
    for r in await db.fetch(TransitionHistory.select(TransitionHistory.instance, TransitionHistory.created_at).order_by(TransitionHistory.id)):
        invited_at.setdefault(r["instance"], r["created_at"])
    timers = {r["instance"]: r["due_at"] for r in await db.fetch(
        Timer.select(Timer.instance, Timer.due_at).where((Timer.event == "expire") & (Timer.status == "pending")))}
    return {r["email"]: {**r, "created_at": invited_at[r["id"]]} for r in rows}, timers

