"""Incremental counters for the funnel (Trichter): written in the transaction of every
transition, so the funnel page sums counter rows instead of scanning the whole history.

A transition only appends rows to `funnel_delta` (plain INSERTs: no shared row is locked,
so concurrent transitions neither wait for each other nor deadlock); `compact` moves
them into `funnel_count` (one row per key) in one transaction that deletes the deltas it
read, so each delta is counted exactly once even with several workers compacting. A
read sums both tables.

The counters record facts without knowing the flow (no state or event is named here);
workflows/funnel.py interprets them with the flow definition. Each counter is kept per
flow, version (the one the invitation started on), invitation day (UTC) and organisation,
and once more with organisation 0 for "all organisations", so that both questions read
only the rows of their period. Facts (kind, state, detail):

- entered (S, ""): instances that entered S for the first time;
- at (S, "P|Q"): instances now in S, that came to S from P, which they had entered from Q
  (a gauge: +1 on entering S, -1 on leaving it);
- stay (S, bucket): completed stays in S, by duration bucket (see `bucket_of`);
- reminders (S, ""): reminders sent in S (a transition that stays in S, sent by the
  system, with a mail);
- reminded (S, ""): stays in S that got at least one reminder;
- came_back (S, T): stays in S that got a reminder and then left S for T.

A migration (a history row whose details name `to_version`) moves everything the
instance counted so far from its old version to the new one, then counts the change of
state like any transition: the funnel of the new version counts migrated invitations,
the old one no longer does.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterable

from db.batching import insert
from db.engine import Database, Deferred, Sql, Step
from db.tables import FunnelCount, FunnelDelta, TransitionHistory

ALL_ORGANISATIONS = 0
SYSTEM_ACTOR = "system"
# Durations go into logarithmic buckets 2^(1/40) wide (about 1.7 %): a stay of up to ten
# years falls into one of ~1 130 buckets, and median and 90th percentile are exact to
# the bucket (the value shown is the bucket's geometric middle, within 0.9 % of the truth).
_BUCKETS_PER_DOUBLING = 40

Key = tuple[str, int, int, str, str, str, str]  # flow, version, organisation, day, kind, state, detail


def bucket_of(seconds: float) -> int:
    return int(math.floor(_BUCKETS_PER_DOUBLING * math.log2(1 + max(0.0, seconds))))


def bucket_value(bucket: int) -> float:
    """The seconds a bucket stands for (its geometric middle)."""
    return 2 ** ((bucket + 0.5) / _BUCKETS_PER_DOUBLING) - 1


@dataclass
class Transition:
    """What the counters need of one history row (or of one change about to be written)."""

    event: str
    source: str
    target: str
    actor: str
    mails: bool
    at: datetime
    flow_version: int
    to_version: int | None = None  # set on a migration to another version


@dataclass
class InstanceTrail:
    """An instance's history folded into what the next transition needs."""

    flow_name: str
    organisation: int
    flow_version: int = 0
    day: str = ""
    entered: set[str] = field(default_factory=set)
    state: str = ""
    since: datetime | None = None
    came_from: str = ""
    came_from_before: str = ""
    reminded: bool = False
    started: bool = False
    # What this instance added to the counters (without the version): a migration moves it.
    counted: dict[tuple, int] = field(default_factory=lambda: defaultdict(int))

    def apply(self, t: Transition, deltas: dict[Key, int]) -> None:
        """Fold one transition into the trail and add its counter changes to `deltas`."""

        def add(kind: str, state: str, detail: str = "", amount: int = 1) -> None:
            self.counted[(kind, state, detail)] += amount
            for organisation in (self.organisation, ALL_ORGANISATIONS):
                key = (self.flow_name, self.flow_version, organisation, self.day, kind, state, detail)
                deltas[key] += amount

        if self.started and t.to_version is not None and t.to_version != self.flow_version:
            self._move_to(t.to_version, deltas)

        if not self.started:
            self.started, self.flow_version, self.day = True, t.flow_version, _day(t.at)
            self.entered.add(t.target)
            add("entered", t.target)
            add("at", t.target, f"{t.source}|")
            self.state, self.since, self.came_from, self.came_from_before = t.target, t.at, t.source, ""
            return
        if t.source == t.target:
            if (t.actor == SYSTEM_ACTOR or t.actor.startswith(SYSTEM_ACTOR + ":")) and t.mails:
                add("reminders", t.source)
                if not self.reminded:
                    add("reminded", t.source)
                self.reminded = True
            return
        if self.since is not None:
            add("stay", t.source, str(bucket_of((t.at - self.since).total_seconds())))
        if self.reminded:
            add("came_back", t.source, t.target)
        add("at", t.source, f"{self.came_from}|{self.came_from_before}", -1)
        add("at", t.target, f"{t.source}|{self.came_from}")
        if t.target not in self.entered:
            self.entered.add(t.target)
            add("entered", t.target)
        self.came_from_before, self.came_from = self.came_from, t.source
        self.state, self.since, self.reminded = t.target, t.at, False

    def _move_to(self, version: int, deltas: dict[Key, int]) -> None:
        for (kind, state, detail), amount in self.counted.items():
            for organisation in (self.organisation, ALL_ORGANISATIONS):
                deltas[(self.flow_name, self.flow_version, organisation, self.day, kind, state, detail)] -= amount
                deltas[(self.flow_name, version, organisation, self.day, kind, state, detail)] += amount
        self.flow_version = version


def _day(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).date().isoformat()


def as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _from_history(row: dict[str, Any]) -> Transition:
    details = row["details"]
    if isinstance(details, str):
        details = json.loads(details or "{}")
    details = details or {}
    return Transition(
        event=row["event"],
        source=row["from_state"],
        target=row["to_state"],
        actor=row["actor"],
        mails=bool(details.get("mails")),
        at=as_datetime(row["created_at"]),
        flow_version=int(details.get("flow_version") or 0),
        to_version=int(details["to_version"]) if details.get("to_version") else None,
    )


_HISTORY_SELECT = (
    'SELECT "instance", "event", "from_state", "to_state", "actor", "details", "created_at" '
    'FROM "transition_history" WHERE '
)


def history_query(instance_ids: list[int]) -> Sql:
    if TransitionHistory._meta.db.engine_type == "postgres":
        return Sql(TransitionHistory, _HISTORY_SELECT + '"instance" = ANY({}::int[]) ORDER BY "instance", "id"', instance_ids)
    marks = ", ".join(["{}"] * len(instance_ids))
    return Sql(TransitionHistory, _HISTORY_SELECT + f'"instance" IN ({marks}) ORDER BY "instance", "id"', *instance_ids)


_COLUMNS = '"flow_name", "flow_version", "organisation", "cohort_day", "kind", "state", "detail", "count"'


_DELTA_COLUMNS = ("flow_name", "flow_version", "organisation", "cohort_day", "kind", "state", "detail", "count")


_ROW = "({}, {}, {}, {}, {}, {}, {}, {})"


def delta_steps(deltas: dict[Key, int]) -> list[Step]:
    rows = [(*key, amount) for key, amount in deltas.items() if amount]
    if FunnelDelta._meta.db.engine_type == "postgres":
        # One INSERT ... SELECT FROM unnest(arrays): a VALUES list of a sweep batch's
        # ~2 000 rows (16 000 parameters) cost ~30 ms of server CPU to parse and plan
        # each time (docs/benchmarks.md, "Timers at their targets").
        return insert(FunnelDelta, _DELTA_COLUMNS, rows, returning=False)
    return [
        Step(Sql(FunnelDelta, f'INSERT INTO "funnel_delta" ({_COLUMNS}) VALUES ' + ", ".join([_ROW] * len(chunk)),
                 *[value for row in chunk for value in row]))
        for chunk in (rows[start : start + 2_000] for start in range(0, len(rows), 2_000))
    ]


COMPACT_BATCH = 20_000


async def compact(db: Database, batch: int = COMPACT_BATCH) -> int:
    """Fold up to `batch` deltas into the counters; returns how many were folded."""
    claim = Sql(
        FunnelDelta,
        'DELETE FROM "funnel_delta" WHERE "id" IN (SELECT "id" FROM "funnel_delta" ORDER BY "id" LIMIT {}) '
        f'RETURNING {_COLUMNS}',
        batch,
    )
    folded = 0

    def sums(results) -> list[Step]:
        nonlocal folded
        totals: dict[Key, int] = defaultdict(int)
        for row in results[-1]:
            key = tuple(row[c] for c in ("flow_name", "flow_version", "organisation", "cohort_day", "kind", "state", "detail"))
            totals[key] += row["count"]  # type: ignore[index]
        folded = len(results[-1])
        return upsert_steps(totals)

    await db.write([Step(claim), Deferred(sums)])
    return folded


def upsert_steps(deltas: dict[Key, int]) -> list[Step]:
    """INSERT ... ON CONFLICT, rows sorted by key and chunks in order, so that two
    compactions lock the counter rows they share in the same order (no deadlock)."""
    rows = sorted((key, amount) for key, amount in deltas.items() if amount)
    steps = []
    for start in range(0, len(rows), 2_000):
        chunk = rows[start : start + 2_000]
        values = [value for key, amount in chunk for value in (*key, amount)]
        steps.append(Step(Sql(
            FunnelCount,
            'INSERT INTO "funnel_count" ("flow_name", "flow_version", "organisation", "cohort_day", "kind", '
            '"state", "detail", "count") VALUES ' + ", ".join(["({}, {}, {}, {}, {}, {}, {}, {})"] * len(chunk))
            + ' ON CONFLICT ("flow_name", "flow_version", "organisation", "cohort_day", "kind", "state", "detail") '
            'DO UPDATE SET "count" = "funnel_count"."count" + excluded."count"',
            *values,
        )))
    return steps


def counter_steps(
    changes: Iterable[Any], now: datetime, new_instances: bool = False
) -> tuple[list[Step | Deferred], list[Deferred]]:
    """The funnel's part of a transition's transaction, as (read, write): `read` loads the
    history of the changed instances and must run before this transition's own history
    row is written; `write` appends the counter deltas (anywhere after `read`; it locks
    nothing shared). `changes` are db.instances.Change objects; with `new_instances`
    they were inserted in this transaction and have no history to read."""
    changes = list(changes)
    ids = sorted({c.record.id for c in changes})
    if not ids:
        return [], []
    deltas: dict[Key, int] = defaultdict(int)

    def fold(results) -> list[Step]:
        trails: dict[int, InstanceTrail] = {}
        for change in changes:
            trails.setdefault(change.record.id, InstanceTrail(change.record.flow_name, change.record.organisation_id))
        ignored: dict[Key, int] = defaultdict(int)
        for row in [] if new_instances else results[-1]:
            trails[row["instance"]].apply(_from_history(row), ignored)
        for change in changes:
            outcome = change.outcome
            trails[change.record.id].apply(
                Transition(outcome.event, outcome.source, outcome.target, change.actor, bool(outcome.mails), now,
                           change.record.flow_version),
                deltas,
            )
        return []

    read = [Deferred(fold)] if new_instances else [Step(history_query(ids)), Deferred(fold)]
    return read, [Deferred(lambda results: delta_steps(deltas))]


async def migration_steps(
    db: Database, flow_name: str, moves: list[tuple[int, int, str, str]], event: str, to_version: int, actor: str,
    now: datetime,
) -> list[Step]:
    """The counter deltas of moving instances to `to_version`: `moves` are (instance,
    organisation, old state, new state). Reads their history now, so the caller's write
    must be version-checked (a transition in between makes it a conflict)."""
    if not moves:
        return []
    rows = await db.fetch(history_query(sorted({m[0] for m in moves})))
    trails = {instance: InstanceTrail(flow_name, organisation) for instance, organisation, _, _ in moves}
    ignored: dict[Key, int] = defaultdict(int)
    for row in rows:
        trails[row["instance"]].apply(_from_history(row), ignored)
    deltas: dict[Key, int] = defaultdict(int)
    for instance, _, source, target in moves:
        trails[instance].apply(Transition(event, source, target, actor, False, now, to_version, to_version), deltas)
    return delta_steps(deltas)


async def rebuild(db: Database, batch: int = 20_000) -> int:
    """Recount every counter from the history (after a bulk import that bypassed the
    transitions, or to check the incremental counts). Returns the instances counted."""
    await db.write([Sql(FunnelCount, 'DELETE FROM "funnel_count"'), Sql(FunnelDelta, 'DELETE FROM "funnel_delta"')])
    after, counted = 0, 0
    while True:
        rows = await db.fetch(Sql(
            TransitionHistory,
            'SELECT h."instance", h."organisation", i."flow_name", h."event", h."from_state", h."to_state", '
            'h."actor", h."details", h."created_at" FROM "transition_history" h '
            'JOIN "flow_instance" i ON i."id" = h."instance" '
            'WHERE h."instance" > {} AND h."instance" <= {} ORDER BY h."instance", h."id"',
            after, after + batch,
        ))
        if not rows:
            more = await db.fetch_one(Sql(TransitionHistory, 'SELECT min("instance") AS "next" FROM "transition_history" WHERE "instance" > {}', after))
            if not more or more["next"] is None:
                return counted
            after = more["next"] - 1
            continue
        trails: dict[int, InstanceTrail] = {}
        deltas: dict[Key, int] = defaultdict(int)
        for row in rows:
            trail = trails.get(row["instance"])
            if trail is None:
                trail = trails[row["instance"]] = InstanceTrail(row["flow_name"], row["organisation"])
            trail.apply(_from_history(row), deltas)
        await db.write(upsert_steps(deltas))
        counted += len(trails)
        after += batch


async def counts(
    db: Database, flow_name: str, flow_version: int, organisation: int | None, since: date | None, until: date | None
) -> list[dict[str, Any]]:
    """(kind, state, detail, count) summed over the invitation days of the period."""
    where = (
        '"flow_name" = {} AND "flow_version" = {} AND "organisation" = {} AND "cohort_day" >= {} AND "cohort_day" <= {}'
    )
    template = (
        'SELECT "kind", "state", "detail", sum("count") AS "count" FROM ('
        f'SELECT "kind", "state", "detail", "count" FROM "funnel_count" WHERE {where} UNION ALL '
        f'SELECT "kind", "state", "detail", "count" FROM "funnel_delta" WHERE {where}'
        ') AS "both" GROUP BY "kind", "state", "detail"'
    )
    arguments = (flow_name, flow_version, organisation or ALL_ORGANISATIONS, (since or date.min).isoformat(),
                 (until or date.max).isoformat())
    return await db.fetch(Sql(FunnelCount, template, *arguments, *arguments))
