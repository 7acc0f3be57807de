"""The Nutzerverwaltung against the Django admin changelist (the peer), measured alike.

The peer is the Django + django-invitations project beside this repository
(`../shared/peers/django`, read-only: its database lives in --workdir). Both servers
serve 100 000 rows from SQLite with the same number of worker processes (1, then 2);
wrk measures their first page, alternating between them round by round, and reports
requests per second and the server's CPU per request (all its processes).

    python -m venv /tmp/peer && /tmp/peer/bin/pip install -r ../shared/peers/django/requirements.txt
    python -m bench.peer_admin --peer ../shared/peers/django --peer-python /tmp/peer/bin/python \\
        --name bench_admin_tablecpu_100k --workers 1,2 --rounds 3 --seconds 3

The peer's page shows 100 rows (Django admin's default), ours 50; "CPU ms/row" puts them
side by side per row shown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.admin_seed import admin_session, seed
from bench.admin_server import Server, _wait_listening, free_port, serve
from bench.admin_table import WrkResult, _browser_cookies, _combine, existing, wrk
from bench.common import DEFAULT_WORKDIR, print_environment, print_table

PEER_LIST = "/admin/invitations/invitation/"
PEER_ROWS = 100
OUR_ROWS = 50
ADMIN_USER = "admin"


def peer_env(database: Path, password: str) -> dict[str, str]:
    return {**os.environ, "PEER_DATABASE_URL": f"sqlite:///{database}", "DJANGO_SUPERUSER_PASSWORD": password,
            "DJANGO_SUPERUSER_USERNAME": ADMIN_USER, "DJANGO_SUPERUSER_EMAIL": "admin@acme.example"}


def prepare_peer(peer: Path, python: str, database: Path, instances: int, password: str) -> None:
    """A migrated, seeded peer database with a superuser (the password is set each run)."""
    env = peer_env(database, password)
    manage = [python, str(peer / "manage.py")]
    if not database.exists():
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        subprocess.run([*manage, "createsuperuser", "--noinput"], env=env, check=True)
        subprocess.run([*manage, "seed", str(instances), "acme"], env=env, check=True)
    change = (f"from django.contrib.auth import get_user_model; u = get_user_model().objects.get(username={ADMIN_USER!r}); "
              f"u.set_password({password!r}); u.save()")
    subprocess.run([*manage, "shell", "-c", change], env=env, check=True)


@contextlib.contextmanager
def serve_peer(peer: Path, python: str, database: Path, password: str, workers: int) -> Iterator[Server]:
    """gunicorn, sync workers, as the peer's own harness runs it."""
    port = free_port()
    gunicorn = str(Path(python).parent / "gunicorn")
    command = [gunicorn, "--workers", str(workers), "--worker-class", "sync", "--bind", f"127.0.0.1:{port}",
               "peerproj.wsgi:application"]
    process = subprocess.Popen(command, cwd=peer, env=peer_env(database, password),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(process, port)
        yield Server(process, port)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def peer_cookie(base_url: str, password: str) -> tuple[str, int]:
    """Logs in through the admin form (CSRF and password checked); the Cookie header and the page size."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await client.get("/admin/login/")
        csrf = client.cookies["csrftoken"]
        response = await client.post("/admin/login/?next=/admin/", data={
            "csrfmiddlewaretoken": csrf, "username": ADMIN_USER, "password": password, "next": "/admin/"})
        if response.status_code != 302:
            raise RuntimeError(f"peer admin login failed: HTTP {response.status_code}")
        page = await client.get(PEER_LIST)
        rows = len(re.findall(r'class="field-email"', page.text))
        if page.status_code != 200 or rows != PEER_ROWS:
            raise RuntimeError(f"peer list: HTTP {page.status_code}, {rows} rows")
        cookie = f"sessionid={client.cookies['sessionid']}; csrftoken={client.cookies['csrftoken']}"
        return cookie, len(page.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", required=True, help="the peer's Django project (manage.py)")
    parser.add_argument("--peer-python", required=True, help="python of a venv with the peer's requirements.txt")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--name", default=None, help="our seeded SQLite database (see bench.admin_table --name)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts, the same for both")
    parser.add_argument("--connections", default="32,1")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR))
    args = parser.parse_args()
    peer = Path(args.peer).resolve()
    url = existing("sqlite", args.instances, args.workdir, "", args.name)
    if url is None:
        url, _ = seed("sqlite", args.instances, workdir=args.workdir, name=args.name)
    password = secrets.token_urlsafe(16)
    peer_db = Path(args.workdir) / f"peer_django_{args.instances}.sqlite3"
    prepare_peer(peer, args.peer_python, peer_db, args.instances, password)
    token = asyncio.run(admin_session(url))
    print_environment({})
    rows: list[list[object]] = []
    for workers in (int(w) for w in args.workers.split(",")):
        with serve(url, workers=workers) as ours, serve_peer(peer, args.peer_python, peer_db, password, workers) as theirs:
            our_cookie, _, our_size = asyncio.run(_browser_cookies(ours.base_url, token, "/nutzerverwaltung/"))
            their_cookie, their_size = asyncio.run(peer_cookie(theirs.base_url, password))
            sides = [("Partnerportal", ours, "/nutzerverwaltung/", our_cookie, OUR_ROWS, our_size),
                     ("Django admin", theirs, PEER_LIST, their_cookie, PEER_ROWS, their_size)]
            for conns in (int(c) for c in args.connections.split(",")):
                runs: dict[str, list[WrkResult]] = {label: [] for label, *_ in sides}
                for round_ in range(args.rounds):
                    for label, server, path, cookie, _, _ in sides:
                        if round_ == 0 and args.warmup > 0:
                            wrk(server.base_url + path, cookie, conns, args.warmup, server.pid)
                        runs[label].append(wrk(server.base_url + path, cookie, conns, args.seconds, server.pid))
                        print(f"  {workers} worker(s) c={conns} round {round_ + 1} {label}: {runs[label][-1].rps:.0f}/s, "
                              f"{runs[label][-1].cpu_ms_per_request:.2f} ms CPU/request, load {os.getloadavg()[0]:.1f}",
                              flush=True)
                combined = {label: _combine(results) for label, results in runs.items()}
                ours_, theirs_ = combined["Partnerportal"], combined["Django admin"]
                if theirs_.requests and ours_.requests:
                    comparison = (f"{ours_.rps / theirs_.rps:.1f}x req/s, "
                                  f"{theirs_.cpu_ms_per_request / ours_.cpu_ms_per_request:.1f}x less CPU")
                else:  # a side that completed no request in its rounds has no figure to compare
                    comparison = "n/a (a side completed no request)"
                for label, _, _, _, page_rows, size in sides:
                    r = combined[label]
                    rows.append([label, workers, conns, page_rows, f"{size / 1024:.0f} KiB", r.rps, r.p50_ms, r.p99_ms,
                                 r.errors, r.cpu_ms_per_request, r.cpu_ms_per_request / page_rows,
                                 comparison if label == "Partnerportal" else ""])
    print_table(f"First page of {args.instances:,} rows, SQLite, wrk {args.rounds} x {args.seconds:g} s alternating",
                ["server", "workers", "conns", "rows", "size", "req/s", "p50 ms", "p99 ms", "errors", "CPU ms/req",
                 "CPU ms/row", "Partnerportal vs peer"], rows)
    print_environment({})


if __name__ == "__main__":
    main()
