"""Invitations created and sent over SMTP, end to end (issue 12: >= 1 000/s on SQLite,
>= 750/s on PostgreSQL).

Each run creates --count invitations through the real service (`workflows.invitations.invite`,
as the admin's form does: account, instance, history and outbox row in one transaction;
no mail limits, as for the operator's command line) while the real dispatcher
(`jobs.outbox.dispatch_due_mail`, default batch size and PARTNERPORTAL_SMTP_CONNECTIONS)
sends them to a real aiosmtpd (`bench/smtp_sink.py`, its own process). Creating and
sending run at the same time in one process, one event loop, as `serve` with its
scheduler would; the dispatcher keeps one set of SMTP connections for the whole run and
closes them after a round that found nothing (as jobs/scheduler.py does). After each
round it waits on a bell (db/wakeups.py), at most 0.5 s: on PostgreSQL the bell is rung
by the real NOTIFY of the new outbox rows (a WakeUps listener, as a worker has) and the
dispatcher then gathers --gather-ms (PARTNERPORTAL_MAIL_GATHER_MS) before it claims; on
SQLite, which has no NOTIFY, the creator rings it after each invitation (an in-process
stand-in: the product polls every PARTNERPORTAL_SWEEP_INTERVAL_SECONDS there). Without a
wake-up, polling every 5 ms cost ~3.5 ms of CPU per invitation on PostgreSQL.
--creators N invitations are created at the same time (N admins' requests, each one
invitation, as the form and the CSV import make them). The clock is the system clock.

The rate is invitations whose mail the server accepted, per second, from the first
`invite` to the last mail marked sent. CPU per invitation: this process (all threads,
SQLite included), the PostgreSQL backends serving it, and the SMTP sink.

With --peer-python, the Django peer (django-invitations, ../shared/peers/django) runs
between our runs on its own database of the same engine: `bench_invite.py --modes smtp
--runs 1 --seconds 2` (create + send over real SMTP to its own aiosmtpd sink), alternating
with ours, so both see the same machine load. Its CPU per invitation is that of the peer
process and its sink together (RUSAGE_CHILDREN), minus a run of 0.01 s (Django start-up,
warm-up), over the extra invitations; with SQLite it includes the database, with
PostgreSQL the server's backends are not counted (they end with the peer's process).

    python -m bench.invites                               # both engines, 5 runs of 2 000
    python -m bench.invites --engine sqlite --runs 3 --count 1000
    python -m bench.invites --engine postgres --creators 4 --gather-ms 20
    python -m bench.invites --peer-python PEER_VENV/bin/python --peer-dir ../shared/peers/django
    python -m bench.invites --phases --engine postgres    # creating alone, then sending alone
    python -m bench.invites --mime                        # EmailMessage against mail/mime.py, rendering, per mail
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import secrets
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path

from bench.common import (
    DEFAULT_PG_URL, DEFAULT_WORKDIR, ROOT, _process_cpu_seconds, cpu_between, create_schema, pg_backend_cpu,
    pg_drop_database, pg_recreate_database, print_environment, print_table, remove_sqlite, sqlite_path,
)
from core import event_loop

TARGET = {"sqlite": 1000.0, "postgres": 750.0}
SECRET = "bench-invites-" + "s" * 32
# Nothing due: wait for the next invitation, at most this long (the fallback poll).
IDLE_WAIT_S = 0.5


class Sink:
    """bench/smtp_sink.py in its own process."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.smtp_sink"], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )
        self.port = int(self.process.stdout.readline())

    def cpu(self) -> float:
        return _process_cpu_seconds(self.process.pid) or 0.0

    def stop(self) -> tuple[int, int]:
        self.process.terminate()
        messages, connections = (int(v) for v in self.process.stdout.readline().split())
        self.process.wait(timeout=10)
        return messages, connections


async def _organisation(db) -> int:
    from db.tables import Organisation

    rows = await db.write([Organisation.insert(Organisation(name=f"Bench {secrets.token_hex(3)}")).returning(Organisation.id)])
    return rows[0][0]["id"]


async def run_once(url: str, engine: str, sink: Sink, count: int, connections: int, creators: int, gather_ms: int) -> dict:
    from core.clock import SystemClock
    from core.settings import Settings
    from core.signing import Signer
    from db.engine import Database
    from db.wakeups import OUTBOX, Bell, WakeUps, ring_when_due
    from jobs.outbox import dispatch_due_mail
    from jobs.smtp import SmtpConnections
    from workflows import flow_snapshots
    from workflows.invitations import Person, invite
    from workflows.registry import FlowRegistry
    from workflows.service import FlowService

    settings = Settings(
        secret_key=SECRET, database_url=url, base_url="https://portal.example.org",
        smtp_host="127.0.0.1", smtp_port=sink.port, smtp_connections=connections, mail_gather_ms=gather_ms,
    )
    db = Database(url)
    await db.start(pool_size=8)
    bell = Bell()
    wakeups = WakeUps(url, IDLE_WAIT_S)  # active on PostgreSQL only
    if wakeups.active:
        wakeups.on(OUTBOX, ring_when_due(bell, time.time, within=IDLE_WAIT_S))
        await wakeups.start()
        await asyncio.wait_for(wakeups.listening.wait(), 30)
    gather_s = settings.mail_gather_ms / 1000 if wakeups.active else 0.0
    try:
        registry = FlowRegistry.from_directory()
        await flow_snapshots.sync(db, registry)
        service = FlowService(db, registry, SystemClock())
        signer = Signer(SECRET)
        organisation = await _organisation(db)
        tag = secrets.token_hex(3)
        queue = iter(range(count))
        created_at: list[float] = []

        async def create() -> None:
            for i in queue:
                person = Person("Frau", "Anna", f"Müller {i}", f"anna.{tag}.{i}@example.org")
                await invite(service, organisation, person, "bench@admin.example", "127.0.0.1", None)
                if not wakeups.active:
                    bell.ring()  # a new outbox row: what NOTIFY tells a waiting dispatcher
            created_at.append(time.perf_counter())

        pool = SmtpConnections(settings)  # the process's, as jobs/scheduler.py keeps them
        rounds = 0

        async def dispatch() -> int:
            nonlocal rounds
            sent = 0
            while sent < count:
                result = await dispatch_due_mail(db, settings, service.clock, registry, signer, connections=pool)
                rounds += 1
                if result.retried or result.failed or result.cancelled:
                    raise RuntimeError(f"not every mail went out: {result}")
                sent += result.sent
                if not result.handled:
                    await pool.close()  # as jobs.scheduler.send_mail: idle, goodbye
                if sent < count:
                    await bell.wait(IDLE_WAIT_S, gather_s)
            return sent

        server_before = await pg_backend_cpu(url) if engine == "postgres" else None
        sink_before, cpu_before = sink.cpu(), time.process_time()
        start = time.perf_counter()
        *_, sent = await asyncio.gather(*[create() for _ in range(creators)], dispatch())
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu_before
        sink_cpu = sink.cpu() - sink_before
        server_cpu = cpu_between(server_before, await pg_backend_cpu(url)) if server_before is not None else 0.0
        await pool.close()
    finally:
        await wakeups.stop()
        await db.close()
    return {
        "sent": sent, "seconds": seconds, "rate": sent / seconds, "create_rate": count / (max(created_at) - start),
        "app_ms": cpu / sent * 1000, "db_ms": server_cpu / sent * 1000, "sink_ms": sink_cpu / sent * 1000,
        "load": os.getloadavg()[0], "rounds": rounds,
    }


async def phases_once(url: str, engine: str, sink: Sink, count: int, connections: int) -> dict:
    """Creating `count` invitations alone, then sending them alone (full batches, kept
    connections): CPU of each phase per invitation, this process and the PostgreSQL backends."""
    from core.clock import SystemClock
    from core.settings import Settings
    from core.signing import Signer
    from db.engine import Database
    from jobs.outbox import dispatch_due_mail
    from jobs.smtp import SmtpConnections
    from workflows import flow_snapshots
    from workflows.invitations import Person, invite
    from workflows.registry import FlowRegistry
    from workflows.service import FlowService

    settings = Settings(secret_key=SECRET, database_url=url, base_url="https://portal.example.org",
                        smtp_host="127.0.0.1", smtp_port=sink.port, smtp_connections=connections)
    db = Database(url)
    await db.start(pool_size=8)
    try:
        registry = FlowRegistry.from_directory()
        await flow_snapshots.sync(db, registry)
        service, signer = FlowService(db, registry, SystemClock()), Signer(SECRET)
        organisation, tag = await _organisation(db), secrets.token_hex(3)
        pool = SmtpConnections(settings)

        async def server_cpu() -> dict:
            return await pg_backend_cpu(url) if engine == "postgres" else {}

        marks = [(time.process_time(), time.perf_counter(), await server_cpu())]
        for i in range(count):
            person = Person("Frau", "Anna", f"Müller {i}", f"anna.{tag}.{i}@example.org")
            await invite(service, organisation, person, "bench@admin.example", "127.0.0.1", None)
        marks.append((time.process_time(), time.perf_counter(), await server_cpu()))
        sent = 0
        while sent < count:
            sent += (await dispatch_due_mail(db, settings, service.clock, registry, signer, connections=pool)).sent
        marks.append((time.process_time(), time.perf_counter(), await server_cpu()))
        await pool.close()
    finally:
        await db.close()
    result = {}
    for name, (before, after) in (("create", marks[0:2]), ("send", marks[1:3])):
        result[name] = {
            "app_ms": (after[0] - before[0]) / count * 1000, "wall_ms": (after[1] - before[1]) / count * 1000,
            "db_ms": cpu_between(before[2], after[2]) / count * 1000,
        }
    return result


def bench_phases(engine: str, args) -> list[list[object]]:
    url = event_loop.run(_database(engine, args))
    sink = Sink()
    runs = []
    try:
        event_loop.run(phases_once(url, engine, sink, min(200, args.count), args.connections))  # warm-up
        for _ in range(args.runs):
            sink_before = sink.cpu()
            runs.append(event_loop.run(phases_once(url, engine, sink, args.count, args.connections)))
            runs[-1]["sink_ms"] = (sink.cpu() - sink_before) / args.count * 1000
    finally:
        sink.stop()
    if not args.keep:
        if engine == "sqlite":
            remove_sqlite(sqlite_path(args.workdir, "invites"))
        else:
            event_loop.run(pg_drop_database(args.pg_url, "bench_invites"))
    rows = []
    for phase in ("create", "send"):
        rows.append([engine, phase, len(runs)] + [
            statistics.median(r[phase][key] for r in runs) for key in ("app_ms", "db_ms", "wall_ms")
        ] + [statistics.median(r["sink_ms"] for r in runs) if phase == "send" else float("nan"), os.getloadavg()[0]])
    return rows


# -- the Django peer ---------------------------------------------------------------------------

_PEER_RUN = re.compile(r"invite \S+ smtp run \d+: (\d+) invites in ([\d.]+)s = ([\d.]+)/s")
_PEER_SINK = re.compile(r"smtp sink received (\d+) messages")


class Peer:
    def __init__(self, python: str, directory: str, engine: str, url: str, workdir: Path):
        self.python, self.directory, self.engine = python, Path(directory).resolve(), engine
        self.env = {**os.environ, "PEER_DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "peerproj.settings"}
        self.env.pop("PEER_SMTP_HOST", None)
        self.workdir = workdir
        manage = [python, str(self.directory / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=self.env, cwd=workdir, check=True)
        # The inviter, as the peer's run.sh makes it (bench_invite.py invites as the first superuser).
        subprocess.run(
            [*manage, "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@peer.example"],
            env={**self.env, "DJANGO_SUPERUSER_PASSWORD": secrets.token_urlsafe(16)}, cwd=workdir, check=True,
            stdout=subprocess.DEVNULL,
        )

    def baseline(self) -> None:
        """A run of almost no time: its CPU (Django start-up, warm-up, sink) is subtracted
        from each run's, so the peer's CPU per invitation is that of the extra invitations."""
        self._base = None
        self._base = self._measure(0.01)

    def run(self, seconds: float) -> dict:
        measured = self._measure(seconds)
        cpu = (measured["cpu"] - self._base["cpu"]) / (measured["received"] - self._base["received"])
        return {**measured, "cpu_ms": cpu * 1000}

    def _measure(self, seconds: float) -> dict:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run(
            [self.python, str(self.directory / "bench_invite.py"), "--seconds", str(seconds), "--runs", "1",
             "--modes", "smtp", "--label", self.engine],
            env=self.env, cwd=self.workdir, capture_output=True, text=True, check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        measured = _PEER_RUN.search(result.stderr)
        received = int(_PEER_SINK.search(result.stderr).group(1))
        return {
            "sent": int(measured.group(1)), "rate": float(measured.group(3)), "cpu": cpu, "received": received,
            "load": os.getloadavg()[0],
        }


# -- one engine --------------------------------------------------------------------------------


async def _database(engine: str, args) -> str:
    if engine == "sqlite":
        path = sqlite_path(args.workdir, "invites")
        remove_sqlite(path)
        url = f"sqlite:///{path}"
    else:
        url = await pg_recreate_database(args.pg_url, "bench_invites")
    await create_schema(url)
    return url


async def _peer_database(engine: str, args) -> str:
    if engine == "sqlite":
        path = sqlite_path(args.workdir, "peer_invites")
        remove_sqlite(path)
        return f"sqlite:///{path}"
    return await pg_recreate_database(args.pg_url, "bench_peer_invites")


def bench_engine(engine: str, args) -> list[list[object]]:
    url = event_loop.run(_database(engine, args))
    peer = None
    if args.peer_python:
        peer = Peer(args.peer_python, args.peer_dir, engine, event_loop.run(_peer_database(engine, args)), Path(args.workdir))
        peer.baseline()
    sink = Sink()
    ours, theirs = [], []
    try:
        event_loop.run(run_once(url, engine, sink, min(200, args.count), args.connections, args.creators, args.gather_ms))  # warm-up
        for index in range(args.runs):
            ours.append(event_loop.run(run_once(url, engine, sink, args.count, args.connections, args.creators, args.gather_ms)))
            o = ours[-1]
            print(f"# {engine} run {index + 1}: {o['sent']} in {o['seconds']:.2f} s = {o['rate']:.0f}/s "
                  f"(created {o['create_rate']:.0f}/s, {o['rounds']} dispatcher rounds), "
                  f"CPU ms/invitation app {o['app_ms']:.3f} db {o['db_ms']:.3f} sink {o['sink_ms']:.3f}, load {o['load']:.2f}",
                  flush=True)
            if peer is not None:
                theirs.append(peer.run(args.peer_seconds))
                t = theirs[-1]
                print(f"# {engine} peer run {index + 1}: {t['sent']} = {t['rate']:.0f}/s, "
                      f"CPU ms/invitation {t['cpu_ms']:.3f} (peer and its sink), load {t['load']:.2f}", flush=True)
    finally:
        messages, connections = sink.stop()
    expected = sum(o["sent"] for o in ours) + min(200, args.count)
    assert messages == expected, f"the sink received {messages} mails, the dispatcher sent {expected}"
    print(f"# {engine}: the sink received {messages} mails over {connections} connections", flush=True)
    if not args.keep:
        if engine == "sqlite":
            remove_sqlite(sqlite_path(args.workdir, "invites"))
            remove_sqlite(sqlite_path(args.workdir, "peer_invites"))
        else:
            event_loop.run(pg_drop_database(args.pg_url, "bench_invites"))
            if peer is not None:
                event_loop.run(pg_drop_database(args.pg_url, "bench_peer_invites"))

    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    rows = [[
        engine, "Partnerportal", len(ours), med(ours, "rate"), min(r["rate"] for r in ours), max(r["rate"] for r in ours),
        med(ours, "app_ms") + med(ours, "db_ms") + med(ours, "sink_ms"), med(ours, "app_ms"), med(ours, "db_ms"),
        med(ours, "sink_ms"),
        med(ours, "load"), TARGET[engine],
    ]]
    if theirs:
        rows.append([
            engine, "Django peer", len(theirs), med(theirs, "rate"), min(r["rate"] for r in theirs),
            max(r["rate"] for r in theirs), med(theirs, "cpu_ms"), float("nan"), float("nan"), float("nan"),
            med(theirs, "load"), float("nan"),
        ])
    return rows


# -- building the MIME by hand, measured ---------------------------------------------------------


def compare_mime(repeat: int = 2000) -> None:
    from datetime import datetime, timezone
    from email.message import EmailMessage
    from email.utils import format_datetime

    from mail.mime import compose, envelope_address, sender
    from mail.rendering import MailValues, render_mail

    mail = render_mail("invitation", MailValues(
        portal_name="Partnerportal", organisation_name="Pflegedienst Sonne", role="staff",
        link="https://portal.example.org/einladung/" + "x" * 120, validity_hours=720,
    ))
    now, mail_from = datetime.now(timezone.utc), "Partnerportal <noreply@partnerportal.example>"

    def stdlib() -> bytes:
        message = EmailMessage()
        message["Subject"] = mail.subject
        message["From"] = mail_from
        message["To"] = "anna.mueller@example.org"
        message["Date"] = format_datetime(now)
        message["Message-ID"] = "<outbox-1@partnerportal.example>"
        message["Auto-Submitted"] = "auto-generated"
        message["Content-Language"] = "de"
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        return message.as_bytes()

    def by_hand() -> bytes:
        return compose(sender(mail_from), envelope_address("anna.mueller@example.org"), mail.subject, mail.text,
                       mail.html, "<outbox-1@partnerportal.example>", now)

    from core import i18n
    from mail import rendering

    values = MailValues(
        portal_name="Partnerportal", organisation_name="Pflegedienst Sonne", role="staff",
        link="https://portal.example.org/einladung/" + "y" * 120, validity_hours=720, expires_at=now, event_at=now,
    )

    def render_alone() -> object:
        with i18n.language("de"):
            return rendering._render("invitation", values, rendering.local_time(now), rendering.local_time(now))

    rows = []
    for name, fn in (("email.message.EmailMessage + as_bytes", stdlib), ("mail.mime.compose", by_hand),
                     ("rendering text + HTML alone (Jinja)", render_alone),
                     ("render_mail, a batch's further mail (link put in)", lambda: render_mail("invitation", values))):
        fn()
        cpu = time.process_time()
        timeit.timeit(fn, number=repeat)
        rows.append([name, (time.process_time() - cpu) / repeat * 1e6])
    print_table(f"Composing and rendering one invitation mail (CPU us, mean of {repeat})", ["how", "CPU us/mail"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--count", type=int, default=2000, help="invitations per run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--connections", type=int, help="PARTNERPORTAL_SMTP_CONNECTIONS (default: the setting's default)")
    parser.add_argument("--creators", type=int, default=1, help="invitations created at the same time")
    parser.add_argument("--gather-ms", type=int, default=20, help="PARTNERPORTAL_MAIL_GATHER_MS (PostgreSQL)")
    parser.add_argument("--peer-python", help="the Django peer's virtualenv python (alternating runs)")
    parser.add_argument("--peer-dir", default=str(ROOT.parent / "shared" / "peers" / "django"))
    parser.add_argument("--peer-seconds", type=float, default=2.0)
    parser.add_argument("--mime", action="store_true", help="only compare composing a mail by hand with EmailMessage")
    parser.add_argument("--phases", action="store_true", help="creating alone, then sending alone, per invitation")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()
    if args.connections is None:
        from core.settings import Settings

        args.connections = Settings.__dataclass_fields__["smtp_connections"].default
    print_environment()
    if args.mime:
        compare_mime()
        return
    engines = ["sqlite", "postgres"] if args.engine == "all" else [args.engine]
    if args.phases:
        rows = [row for engine in engines for row in bench_phases(engine, args)]
        print_table(
            f"Creating {args.count} invitations, then sending them (batches of 50, {args.connections} kept SMTP connections)",
            ["engine", "phase", "runs", "app CPU ms/inv", "db server CPU ms/inv", "wall ms/inv", "smtp sink CPU ms/inv", "load avg"],
            rows,
        )
        return
    rows = []
    for engine in engines:
        rows += bench_engine(engine, args)
    print_table(
        f"Invitations created and sent over SMTP, {args.count} per run, {args.connections} SMTP connections, "
        f"{args.creators} creator(s), gather {args.gather_ms} ms (PostgreSQL)",
        ["engine", "product", "runs", "invites/s median", "min", "max", "CPU ms/inv total", "app", "db server",
         "smtp sink", "load avg", "target/s"],
        rows,
    )


if __name__ == "__main__":
    main()
