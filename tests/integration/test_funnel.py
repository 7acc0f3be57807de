"""The funnel (Trichter, issue 13): a seeded history, run through the real engine with a
moved clock, gives the numbers this test computes itself from the history rows, on the
page, in the CSV, in the CLI's JSON and table; only product owners see it, and it shows
no person."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import re
import subprocess
import sys
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest

from db import funnel as counters
from db.funnel import bucket_of, bucket_value
from db.tables import FunnelCount, FunnelDelta, TransitionHistory
from jobs.timers import fire_due_timers
from tests.support.admin import login_session
from tests.support.app import running_app
from web.auth import SESSION_COOKIE
from workflows import funnel
from workflows.roles import EventOf

PROFILE = {"first_name": "Bernhard", "last_name": "Tester"}
STEPS = ["invited", "in_progress", "registered", "consented", "active"]
STOPS = ["expired", "locked", "revoked", "deleted"]
REMINDERS = {"remind_inactive", "remind_expiring", "remind_device"}
PARTNERPORTAL = Path(sys.executable).parent / "partnerportal"


async def seed(factory, service, clock) -> dict:
    """Eight invitations on day 0 in two organisations, one more 62 days later; each goes
    its own way. Times are hours after the first invitation."""
    start = clock.now()
    org_a, org_b = await factory.organisation("Pflegedienst Anker"), await factory.organisation("Pflegedienst Birke")
    people = {}
    for name in ("a1", "a2", "a3", "a4", "a5", "a6"):
        people[name] = (await factory.invite(org_a)).id
    for name in ("b1", "b2"):
        people[name] = (await factory.invite(org_b)).id

    async def at(hours: float) -> None:
        clock._now = start + timedelta(hours=hours)
        await fire_due_timers(service)

    async def send(name: str, event, **kwargs) -> None:
        await service.send(people[name], event, **kwargs)

    await at(2); await send("a1", EventOf("profile_saved"), data=PROFILE)
    await at(5); await send("a2", EventOf("profile_saved"), data=PROFILE)
    await at(6); await send("a1", EventOf("activated"))
    await at(9); await send("a1", EventOf("consent_given"), actor="account:1")
    await at(15); await send("a2", EventOf("activated"))
    await at(30); await send("b1", EventOf("profile_saved"), data=PROFILE)
    await at(31); await send("b1", EventOf("code_lockout"))
    await at(50); await send("a3", "revoke", actor="account:2")
    for hours in (72, 73):
        await at(hours)  # the first reminders
    await at(80); await send("a4", EventOf("profile_saved"), data=PROFILE)  # back after a reminder
    await at(128)  # status mail at the device step
    await at(130); await send("a4", EventOf("activated"))
    for hours in (672, 720):
        await at(hours)  # reminder before expiry, expiry
    await at(750); await send("a6", "resend", actor="account:2")
    for hours in range(800, 1501, 50):
        await at(hours)  # purges of the expired and revoked, a6's second round
    await at(1500)
    people["c1"] = (await factory.invite(org_a)).id  # a later cohort
    return {"org_a": org_a, "org_b": org_b, "people": people, "day0": start.date(), "later": clock.now().date()}


def nearest_rank(values: list[float], quantile: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return bucket_value(bucket_of(ordered[max(1, math.ceil(quantile * len(ordered))) - 1]))


async def expected_from_history(
    db, organisation: int | None = None, since: date | None = None, until: date | None = None
) -> dict:
    """The funnel computed straight from the history rows, without the counters."""
    rows = await db.fetch(TransitionHistory.select().order_by(TransitionHistory.id))
    by_instance = defaultdict(list)
    for row in rows:
        by_instance[row["instance"]].append(row)
    reached, stopped = defaultdict(int), defaultdict(int)
    stays, reminders, reminded, came_back = defaultdict(list), defaultdict(int), defaultdict(int), defaultdict(int)
    for history in by_instance.values():
        first = history[0]
        if organisation and first["organisation"] != organisation:
            continue
        day = first["created_at"].date()
        if (until and day > until) or (since and day < since):
            continue
        for state in {r["to_state"] for r in history}:
            reached[state] += 1
        changes = [r for r in history if r["from_state"] != r["to_state"]]
        for entry, leave in zip(changes, changes[1:]):
            stays[entry["to_state"]].append((leave["created_at"] - entry["created_at"]).total_seconds())
            inside = [r for r in history if entry["id"] < r["id"] < leave["id"] and r["event"] in REMINDERS]
            if inside:
                reminded[entry["to_state"]] += 1
                if leave["to_state"] in STEPS and STEPS.index(leave["to_state"]) > STEPS.index(entry["to_state"]):
                    came_back[entry["to_state"]] += 1
        last_entry = changes[-1]
        if [r for r in history if r["id"] > last_entry["id"] and r["event"] in REMINDERS]:
            reminded[last_entry["to_state"]] += 1
        for r in history:
            if r["event"] in REMINDERS:
                reminders[r["from_state"]] += 1
        current = last_entry["to_state"]
        if current in STOPS:
            stop, step = current, last_entry["from_state"]
            if current == "deleted" and step in STOPS:
                into_stop = [r for r in changes if r["to_state"] == step][-1]
                stop, step = step, into_stop["from_state"]
            stopped[(step, stop)] += 1
    return {
        "steps": [
            {
                "state": s,
                "reached": reached[s],
                "stopped": {stop: stopped[(s, stop)] for stop in STOPS},
                "median": nearest_rank(stays[s], 0.5),
                "p90": nearest_rank(stays[s], 0.9),
                "reminders": reminders[s],
                "reminded": reminded[s],
                "came_back": came_back[s],
            }
            for s in STEPS
        ],
        "stop_times": {s: (nearest_rank(stays[s], 0.5), nearest_rank(stays[s], 0.9)) for s in STOPS[:3]},
    }


def compare_json(report: dict, expected: dict) -> None:
    assert [s["state"] for s in report["steps"]] == STEPS
    for got, want in zip(report["steps"], expected["steps"]):
        assert got["reached"] == want["reached"], got["state"]
        assert got["stopped"] == want["stopped"], got["state"]
        assert got["time"]["median_seconds"] == want["median"], got["state"]
        assert got["time"]["p90_seconds"] == want["p90"], got["state"]
        assert (got["reminders"], got["reminded"], got["came_back"]) == (want["reminders"], want["reminded"], want["came_back"]), got["state"]
    assert {t["state"]: (t["median_seconds"], t["p90_seconds"]) for t in report["stop_times"]} == expected["stop_times"]


def hours_text(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 3600:.1f}".replace(".", ",")


def expected_rows(expected: dict) -> list[list[str]]:
    rows, previous = [], None
    for step in expected["steps"]:
        share = "" if not previous else f"{100 * step['reached'] / previous:.1f}".replace(".", ",") + " %"
        rows.append([
            step["reached"], share, *[step["stopped"][s] for s in STOPS], hours_text(step["median"]),
            hours_text(step["p90"]), step["reminders"], step["reminded"], step["came_back"],
        ])
        previous = step["reached"]
    return [[str(cell) for cell in row] for row in rows]


async def report_json(db, registry, organisation=None, since=None, until=None) -> dict:
    flow = registry.current("onboarding")
    rows = await counters.counts(db, "onboarding", flow.version, organisation, since, until)
    return funnel.as_json(funnel.build_report(flow.definition, rows, since, until, organisation))


async def test_the_seeded_history_gives_the_funnel_computed_from_it(factory, service, clock, db, registry):
    seeded = await seed(factory, service, clock)
    expected = await expected_from_history(db)
    # What the seed did, by hand: anchors for the computation above.
    assert [s["reached"] for s in expected["steps"]] == [9, 4, 3, 1, 1]
    invited, in_progress = expected["steps"][0], expected["steps"][1]
    assert invited["stopped"] == {"expired": 3, "locked": 0, "revoked": 1, "deleted": 0}
    assert in_progress["stopped"] == {"expired": 0, "locked": 1, "revoked": 0, "deleted": 0}
    assert invited["came_back"] == 1 and in_progress["came_back"] == 1
    compare_json(await report_json(db, registry), expected)

    # A period and an organisation.
    day0 = seeded["day0"]
    only_day0 = await expected_from_history(db, until=day0)
    assert only_day0["steps"][0]["reached"] == 8
    compare_json(await report_json(db, registry, until=day0), only_day0)
    later = await expected_from_history(db, since=seeded["later"])
    assert [s["reached"] for s in later["steps"]] == [1, 0, 0, 0, 0]
    compare_json(await report_json(db, registry, since=seeded["later"]), later)
    org_b = await expected_from_history(db, organisation=seeded["org_b"])
    assert [s["reached"] for s in org_b["steps"]] == [2, 1, 0, 0, 0]
    compare_json(await report_json(db, registry, organisation=seeded["org_b"]), org_b)


async def all_counters(db) -> list[tuple]:
    """Every key's total over the counters and the not yet compacted deltas."""
    totals = defaultdict(int)
    for table in (FunnelCount, FunnelDelta):
        for r in await db.fetch(table.select()):
            totals[(r["flow_version"], r["organisation"], r["cohort_day"], r["kind"], r["state"], r["detail"])] += r["count"]
    return sorted((*key, n) for key, n in totals.items() if n)


async def test_counting_the_history_again_gives_the_incremental_counters(factory, service, clock, db):
    await seed(factory, service, clock)
    assert await db.fetch(FunnelCount.select()) == []  # transitions only append deltas
    incremental = await all_counters(db)
    assert await counters.rebuild(db, batch=3) == 9
    assert await db.fetch(FunnelDelta.select()) == []
    assert await all_counters(db) == incremental and len(incremental) > 40


async def test_an_instance_that_moves_on_between_the_sweeps_read_and_its_write_is_counted_once(
    factory, service, clock, db, monkeypatch,
):
    """The sweep reads a batch's instances before it writes (and plans the next batch while
    the database writes this one). An instance changed after that read fails its version
    check: the batch is fired again from fresh reads, and the counters still equal the
    history's."""
    from db.tables import FlowInstance
    from jobs import timers

    moving, staying = (await factory.invite()).id, (await factory.invite()).id
    real_plan = timers._plan

    async def plan_after_a_change(service_, claimed):
        if moving in claimed.records:  # once: the person saves their data after the sweep read them
            monkeypatch.setattr(timers, "_plan", real_plan)
            await service.send(moving, EventOf("profile_saved"), data=PROFILE)
        return await real_plan(service_, claimed)

    monkeypatch.setattr(timers, "_plan", plan_after_a_change)
    clock.advance(hours=721)  # reminders and the expiry of both are due
    result = await fire_due_timers(service)
    # Its inactivity reminder went with the data saved (a conflict); the rest fired from fresh reads.
    assert (result.fired, result.conflicts, result.failed) == (5, 1, [])
    states = {r["id"]: r["state"] for r in await db.fetch(FlowInstance.select(FlowInstance.id, FlowInstance.state))}
    assert states == {moving: "expired", staying: "expired"}
    incremental = await all_counters(db)
    await counters.rebuild(db)
    assert await all_counters(db) == incremental
    kinds = [r["event"] for r in await db.fetch(
        TransitionHistory.select(TransitionHistory.event).where(TransitionHistory.instance == moving).order_by(TransitionHistory.id))]
    assert kinds == ["invite", "complete_profile", "remind_expiring", "expire"]


async def test_compaction_folds_every_delta_once_even_when_two_run_at_once(factory, service, clock, db, registry):
    await seed(factory, service, clock)
    before, report = await all_counters(db), await report_json(db, registry)
    deltas = len(await db.fetch(FunnelDelta.select()))
    folded = await asyncio.gather(*(counters.compact(db, batch=25) for _ in range(4)))
    while await counters.compact(db, batch=25):
        pass
    assert sum(folded) <= deltas and await db.fetch(FunnelDelta.select()) == []
    assert await all_counters(db) == before
    assert await report_json(db, registry) == report


async def test_migrated_invitations_move_to_the_funnel_of_their_new_version(factory, service, clock, db, registry):
    from tests.support.flow_copies import shipped_text
    from workflows.flow_migration import migrate_instances
    from workflows.publication import publish
    from workflows.versioning import plan_state_mapping

    seeded = await seed(factory, service, clock)
    before = await report_json(db, registry)
    assert before["invitations"] == 9
    old = registry.current("onboarding").definition
    await publish(db, registry, shipped_text(version=old.version + 1, expiry="336h"), "account:1", clock.now())
    new = registry.current("onboarding").definition

    moved = await migrate_instances(db, old, new, plan_state_mapping(old, new, {}), clock.now(), actor="cli:test")

    assert moved == 9
    after = await report_json(db, registry)  # the funnel of the new version
    assert after["version"] == new.version
    assert {k: v for k, v in after.items() if k != "version"} == {k: v for k, v in before.items() if k != "version"}
    rows = await counters.counts(db, "onboarding", old.version, None, None, None)
    assert rows and all(row["count"] == 0 for row in rows)  # the old version counts nobody now
    # Later transitions count on the new version, and recounting the history agrees.
    await service.send(seeded["people"]["c1"], "revoke", actor="account:2")
    incremental = await all_counters(db)
    await counters.rebuild(db)
    assert await all_counters(db) == incremental


async def product_owner(factory, db, clock) -> str:
    operator = await factory.organisation("Betreiber des Portals")
    account = await factory.account(operator, role="product_owner")
    return await login_session(db, clock, account, operator)


def table_cells(html: str) -> list[list[str]]:
    body = html.split('class="funnel-table"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)][1:]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


async def test_a_product_owner_sees_the_numbers_on_the_page_and_in_the_csv(factory, service, clock, db, settings):
    seeded = await seed(factory, service, clock)
    expected = expected_rows(await expected_from_history(db))
    token = await product_owner(factory, db, clock)
    async with running_app(settings, clock) as (_, client):
        client.cookies.set(SESSION_COOKIE, token)
        page = await client.get("/trichter")
        assert page.status_code == 200
        assert table_cells(page.text) == expected
        assert "<svg" in page.text and 'aria-labelledby="funnel-chart-title funnel-summary"' in page.text
        assert "9 Einladungen; 1 erreichten „Aktiv“ (11,1 %)." in page.text
        download = await client.get("/trichter.csv")
        assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
        table = list(csv.reader(io.StringIO(download.text), delimiter=";"))
        assert table[0][:3] == ["Schritt", "Erreicht", "Umwandlung"]
        assert [row[1:] for row in table[1:]] == expected
        only_b = await client.get("/trichter.csv", params={"organisation": seeded["org_b"], "bis": seeded["day0"].isoformat()})
        want_b = expected_rows(await expected_from_history(db, organisation=seeded["org_b"]))
        assert [row[1:] for row in csv.reader(io.StringIO(only_b.text), delimiter=";")][1:] == want_b


async def test_the_page_shows_no_person_of_the_seed(factory, service, clock, db, settings):
    """Product owners see aggregated figures only: no name or address of anyone seeded."""
    await seed(factory, service, clock)
    token = await product_owner(factory, db, clock)
    accounts = await db.fetch(TransitionHistory.raw("SELECT first_name, last_name, email FROM account"))
    secrets = {v for a in accounts for v in (a["first_name"], a["last_name"], a["email"]) if v}
    assert "Bernhard" in secrets and any("@" in s for s in secrets)
    async with running_app(settings, clock) as (_, client):
        client.cookies.set(SESSION_COOKIE, token)
        for url in ("/trichter", "/trichter.csv"):
            text = (await client.get(url)).text
            assert [s for s in secrets if s in text] == []
        assert "@" not in (await client.get("/trichter.csv")).text


async def test_organisation_admins_and_staff_get_403(factory, service, clock, db, settings):
    """SES-7: the funnel counts every organisation, so an organisation's admin gets 403."""
    organisation = await factory.organisation()
    admin = await login_session(db, clock, await factory.account(organisation, role="admin"), organisation)
    staff = await login_session(db, clock, await factory.account(organisation), organisation)
    async with running_app(settings, clock) as (_, client):
        for token in (admin, staff):
            client.cookies.set(SESSION_COOKIE, token)
            for url in ("/trichter", "/trichter.csv"):
                assert (await client.get(url)).status_code == 403
        client.cookies.clear()
        assert (await client.get("/trichter.csv")).status_code == 401


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"von": "01.11.2026"}, "von", "JJJJ-MM-TT"),
        ({"von": "2026-11-02", "bis": "2026-11-01"}, "bis", "vor seinem Anfang"),
        ({"version": "99"}, "version", "gibt es für den Ablauf nicht"),
        ({"organisation": "123456"}, "organisation", "aus der Liste"),
        ({"ablauf": "gibtsnicht"}, "ablauf", "gibt es nicht"),
    ],
)
async def test_bad_filters_get_a_german_message_at_the_field_and_keep_the_rest(factory, clock, db, settings, params, field, message):
    token = await product_owner(factory, db, clock)
    async with running_app(settings, clock) as (_, client):
        client.cookies.set(SESSION_COOKIE, token)
        page = await client.get("/trichter", params={"bis": "2026-12-31", **params})
        assert page.status_code == 422
        assert re.search(rf'id="{field}-error">[^<]*{re.escape(message)}', page.text)
        if field != "bis":
            assert 'value="2026-12-31"' in page.text  # the other input is kept
        assert (await client.get("/trichter.csv", params=params)).status_code == 422


async def test_cli_json_csv_and_table_match_the_history(factory, service, clock, db, database_url, tmp_path):
    seeded = await seed(factory, service, clock)
    expected = await expected_from_history(db)

    def cli(*args: str) -> str:
        env = {"PATH": "/usr/bin:/bin", "PARTNERPORTAL_DATABASE_URL": database_url}
        result = subprocess.run(
            [str(PARTNERPORTAL), "flows", "funnel", "onboarding", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    compare_json(json.loads(cli("--format", "json")), expected)
    table = list(csv.reader(io.StringIO(cli("--format", "csv")), delimiter=";"))
    assert [row[1:] for row in table[1:]] == expected_rows(expected)
    text = cli()
    assert "9 Einladungen" in text and "Eingeladen" in text
    later = json.loads(cli("--format", "json", "--since", seeded["later"].isoformat()))
    assert [s["reached"] for s in later["steps"]] == [1, 0, 0, 0, 0]
