"""Login starts for a known and an unknown username: do they take the same time? (PIN-6)

The functional suite proves equal work exactly: `test_pin6_known_and_unknown_usernames_run_
the_same_statements` shows both run the same SQL statements in the same order. What is left
is how long the database takes for the same statements with different values (an UPDATE
that finds its row, a foreign key checked or not). That is a measurement, so it lives here
and not in a timed test.

One account is invited, registered and activated through the real app (as the tests do);
then `start_login` runs for its address and for an unknown one, interleaved in a random
order, in several rounds. Per round the script prints the median of each and Mann-Whitney's
effect size: the probability that a known start takes longer than an unknown one (0.5 = no
difference). Machine load hits both samples alike, since they alternate.

    python -m bench.login_timing                                 # both engines
    python -m bench.login_timing --engine postgres --rounds 5 --starts 300
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import (
    DEFAULT_PG_URL,
    T0,
    create_schema,
    pg_drop_database,
    pg_recreate_database,
    print_environment,
    print_table,
)
from core import event_loop

KNOWN = "b.tester@abc.de"
UNKNOWN = "niemand@abc.de"
DATABASE = "bench_login_timing"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
# Far from 0.5 only if one side does measurably more work; about 4.5 standard errors
# for 150 starts each, so machine noise alone rarely reaches it.
EFFECT_BOUNDS = (0.35, 0.65)


def effect_size(known: list[int], unknown: list[int]) -> float:
    """P(known > unknown) + half the ties, over every pair (Mann-Whitney's U / n1 n2)."""
    wins = sum((k > u) + 0.5 * (k == u) for k in known for u in unknown)
    return wins / (len(known) * len(unknown))


async def measure(url: str, rounds: int, starts: int, seed: int) -> list[list[object]]:
    # The test harness builds the app and walks the registration; this script reuses it
    # rather than repeating the wizard.
    from core.clock import FrozenClock
    from core.settings import Settings
    from db.engine import Database
    from tests.integration.test_twofactor import activated
    from tests.support.app import running_app
    from tests.support.factories import Factory
    from workflows import flow_snapshots
    from workflows.login_approval import start_login
    from workflows.registry import FlowRegistry
    from workflows.service import FlowService
    from workflows.twofactor import Limits

    await create_schema(url)
    db = Database(url)
    await db.start(pool_size=4)
    try:
        clock = FrozenClock(T0)
        registry = FlowRegistry.from_directory()
        await flow_snapshots.sync(db, registry)
        service = FlowService(db, registry, clock)
        settings = Settings(
            database_url=url, secret_key=SECRET, scheduler_enabled=False, base_url="http://bench",
            login_starts_per_account=100, login_starts_per_ip=10_000,
        )
        async with running_app(settings, clock) as (_, client):
            await activated(settings, Factory(db, service), db, clock, client, email=KNOWN)
        limits = Limits.from_settings(settings)
        rows: list[list[object]] = []
        order_source = random.Random(seed)
        for round_ in range(1, rounds + 1):
            order = [KNOWN, UNKNOWN] * starts
            order_source.shuffle(order)
            timings: dict[str, list[int]] = {KNOWN: [], UNKNOWN: []}
            for i, name in enumerate(order):
                if i % 60 == 0:
                    clock.advance(minutes=16)  # stay within the (raised) limits
                began = time.perf_counter_ns()
                await start_login(service, name, "192.0.2.1", "Firefox auf Windows", frozenset(), limits)
                timings[name].append(time.perf_counter_ns() - began)
            known_us = statistics.median(timings[KNOWN]) / 1000
            unknown_us = statistics.median(timings[UNKNOWN]) / 1000
            effect = effect_size(timings[KNOWN], timings[UNKNOWN])
            inside = EFFECT_BOUNDS[0] < effect < EFFECT_BOUNDS[1]
            rows.append([round_, f"{known_us:.0f}", f"{unknown_us:.0f}", f"{known_us - unknown_us:+.0f}",
                         f"{effect:.2f}", "ok" if inside else "outside"])
        return rows
    finally:
        await db.close()


async def main(args: argparse.Namespace) -> None:
    print_environment()
    headers = ["round", "known p50 µs", "unknown p50 µs", "difference µs", "P(known slower)",
               f"within {EFFECT_BOUNDS[0]}–{EFFECT_BOUNDS[1]}"]
    for engine in (["sqlite", "postgres"] if args.engine == "all" else [args.engine]):
        if engine == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                url = f"sqlite:///{Path(folder) / 'login_timing.sqlite'}"
                rows = await measure(url, args.rounds, args.starts, args.seed)
        else:
            url = await pg_recreate_database(args.pg_url, DATABASE)
            try:
                rows = await measure(url, args.rounds, args.starts, args.seed)
            finally:
                await pg_drop_database(args.pg_url, DATABASE)
        print_table(f"{engine}: {args.starts} starts each per round, interleaved", headers, rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=150, help="starts per username and round")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a role allowed to CREATE DATABASE")
    return parser.parse_args()


if __name__ == "__main__":
    event_loop.run(main(parse_args()))
