"""The write path of the flow engine: outcomes of the machine become the statements of
one transaction.

Every write of a transition goes through a `WritePlan`, whether a request sends one event
(`workflows.service.FlowService.send`), an invitation starts an instance, or the timer
sweep (`jobs.timers`) fires a batch: the version-checked state update, the history rows,
the timers cancelled and started, the outbox rows, the record effects (links, sessions,
devices, attempt counters, anonymisation) and the claims of fired timers. A lost race on
any version-checked row rolls the whole plan back (`db.engine.ConflictError`).

A plan may hold several outcomes of one instance (a chain: an event and the event that
follows it at once, or several overdue timers): they are written in order, each checking
the version the one before produced.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from piccolo.utils.encoding import dump_json

from db import funnel
from db.batching import MAX_PARAMETERS, insert, is_postgres, marks, update_in
from db.engine import Deferred, Sql, Step
from db.instances import InstanceRecord
from db.name_order import name_key
from db.tables import Account, ActivationCode, AttemptCounter, Device, FlowInstance, InvitationLink, Outbox, Timer, TransitionHistory, WebSession


class Outcome(Protocol):
    """What the engine's run of one event produced (workflows.engine.Outcome)."""

    event: str
    source: str
    target: str
    context: dict[str, Any]
    mails: list[str]
    records: set[str]
    timers_to_cancel: set[str]
    timers_to_start: list[tuple[str, datetime]]


@dataclass
class Change:
    """One outcome to persist for one instance, with who caused it. `record` is the
    instance as the outcome found it (its version is the one checked); id 0 is an
    instance not inserted yet."""

    record: InstanceRecord
    outcome: Outcome
    actor: str = "system"
    client_ip: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class WritePlan:
    """The statements of one transaction, collected outcome by outcome."""

    def __init__(self, now: datetime):
        self.now = now
        self.changes: list[Change] = []
        self.claims: dict[str, list[int]] = {}
        # Records of the one new instance a plan may insert: they get its id at insertion.
        self.new_instance_records: list[InstanceRecord] = []

    def add(self, change: Change) -> None:
        """Append an outcome; those of one instance must come in the order they ran."""
        if change.record.id == 0:
            if change.record.version == 0 and self.new_instance_records:
                raise ValueError("A plan inserts at most one new instance.")
            self.new_instance_records.append(change.record)
        self.changes.append(change)

    def set_new_instance_account(self, account_id: int) -> None:
        """The account of the new instance, when it is inserted in the same transaction."""
        for record in self.new_instance_records:
            record.account_id = account_id

    def claim_timer(self, timer_id: int, status: str) -> None:
        """Mark a pending timer `fired` or `cancelled` in the same transaction; if another
        process claimed it first, the whole plan is a conflict."""
        self.claims.setdefault(status, []).append(timer_id)

    def steps(self) -> list[Step | Deferred]:
        now = self.now
        claims = [_claim(ids, status, now) for status, ids in self.claims.items() if ids]
        first_new = next((c for c in self.changes if c.record.id == 0), None)
        if first_new is None:
            return claims + _in_rounds(self.changes, now)
        rest = [c for c in self.changes if c is not first_new]

        def after_insert(results) -> list[Step]:
            new_id = results[-1][0]["id"]  # the INSERT just before
            for record in self.new_instance_records:
                record.id = new_id
            return effect_steps([first_new], now, new_instance=True) + _in_rounds(rest, now)

        return claims + [_insert_instance(first_new, now), Deferred(after_insert)]


def _insert_instance(change: Change, now: datetime) -> Step:
    """A new instance, already in its first outcome's target state (version 1)."""
    record, outcome = change.record, change.outcome
    (step,) = insert(
        FlowInstance,
        ("organisation", "account", "flow_name", "flow_version", "state", "version", "context", "created_at", "updated_at"),
        [
            (
                record.organisation_id,
                record.account_id,
                record.flow_name,
                record.flow_version,
                outcome.target,
                1,
                dump_json(outcome.context),
                now,
                now,
            )
        ],
    )
    return Step(step.query, expect_rows=1)


def _in_rounds(changes: list[Change], now: datetime) -> list[Step]:
    # Several outcomes of one instance are written in order, each checking the version
    # the previous one produced: round n holds every instance's n-th outcome.
    if len(changes) == 1:  # a request's one event
        return change_steps(changes, now)
    rounds: list[list[Change]] = []
    seen: dict[int, int] = {}
    for change in changes:
        index = seen.get(change.record.id, -1) + 1
        seen[change.record.id] = index
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(change)
    return [step for batch in rounds for step in change_steps(batch, now)]


def change_steps(changes: list[Change], now: datetime) -> list[Step]:
    """Statements that persist changes of distinct instances together: state
    (version-checked), history, timers, outbox and record effects. Set-based, so a batch
    of many changes costs a handful of statements."""
    if not changes:
        return []
    return effect_steps(changes, now, state_updates=_instance_updates(changes, now))


def _claim(timer_ids: list[int], status: str, now: datetime) -> Step:
    # On PostgreSQL the ids travel as one array, so the prepared statement is the same
    # for every batch size.
    head = 'UPDATE "timer" SET "status" = {}, "fired_at" = {} WHERE ("timer"."status" = {} AND '
    if is_postgres(Timer):
        query = Sql(Timer, head + 'id = ANY({}::int[]))', status, now, "pending", list(timer_ids))
    else:
        query = Sql(Timer, head + f'id IN ({marks(len(timer_ids))}))', status, now, "pending", *timer_ids)
    return Step(query, expect_rows=len(timer_ids), counted=True, joinable=True)


def effect_steps(
    changes: list[Change], now: datetime, new_instance: bool = False, state_updates: list[Step] = ()
) -> list[Step]:
    """History, timers and outbox rows of changes whose instance rows are written (or,
    with `state_updates`, are written by those steps, placed after the funnel's read)."""
    # The funnel's counters read the history as it was before these changes (first) and
    # append counter deltas (last; they lock no shared row). An instance inserted in this
    # transaction has neither history nor timers yet: two statements less per invitation.
    # The version-checked state update follows the read, so that on PostgreSQL it runs in
    # one statement with the writes after it (db.engine: joinable steps); a change the
    # read could miss fails that version check.
    read_history, write_counters = funnel.counter_steps(changes, now, new_instances=new_instance)
    steps: list = [*read_history, *state_updates]
    # No RETURNING: nothing reads the ids of these rows, and SQLite would build a result
    # row (and the driver a dict) for each of them.
    steps += insert(TransitionHistory, _HISTORY_COLUMNS, [_history_row(c, now) for c in changes], returning=False)
    if not new_instance:
        steps.extend(_timer_cancellations(changes))
    new_timers = [
        (c.record.id, event, due, "pending", None) for c in changes for event, due in c.outcome.timers_to_start
    ]
    if new_timers:
        steps.extend(insert(Timer, ("instance", "event", "due_at", "status", "fired_at"), new_timers, returning=False))
    mails = [_outbox_row(c, kind, now) for c in changes for kind in c.outcome.mails]
    if mails:
        steps.extend(insert(Outbox, _OUTBOX_COLUMNS, mails, returning=False))
    steps.extend(_record_steps(changes, now))
    steps.extend(write_counters)
    return steps


def _record_steps(changes: list[Change], now: datetime) -> list[Step]:
    """Statements for the named record effects of workflows/actions.py."""

    def instances_with(effect: str) -> list[int]:
        return [c.record.id for c in changes if effect in c.outcome.records]

    def accounts_with(effect: str) -> list[int]:
        return [c.record.account_id for c in changes if effect in c.outcome.records and c.record.account_id]

    steps = []
    if ids := instances_with("end_links"):
        steps += update_in(
            InvitationLink,
            'UPDATE "invitation_link" SET "ended_at" = {} WHERE ("invitation_link"."instance" IN ({ids}) '
            'AND "invitation_link"."ended_at" IS NULL)',
            [now],
            ids,
        )
    if ids := instances_with("end_registration_sessions"):
        # Every registration session of the instance was opened by a link sent before this
        # transition (new links are issued later, when the outbox sends their mail).
        steps += update_in(
            WebSession,
            'UPDATE "web_session" SET "ended_at" = {} WHERE ("web_session"."instance" IN ({ids}) '
            'AND "web_session"."kind" = {} AND "web_session"."ended_at" IS NULL)',
            [now],
            ids,
            ["registration"],
        )
        steps += update_in(
            ActivationCode,
            'UPDATE "activation_code" SET "ended_at" = {} WHERE ("activation_code"."instance" IN ({ids}) '
            'AND "activation_code"."ended_at" IS NULL)',
            [now],
            ids,
        )
    if ids := accounts_with("end_sessions"):
        steps += update_in(
            WebSession,
            'UPDATE "web_session" SET "ended_at" = {} WHERE ("web_session"."account" IN ({ids}) '
            'AND "web_session"."ended_at" IS NULL)',
            [now],
            ids,
        )
    if ids := accounts_with("revoke_devices"):
        steps.append(Step(Device.update({Device.revoked_at: now}).where(
            Device.account.is_in(ids) & Device.revoked_at.is_null()
        )))
    if ids := instances_with("reset_attempts"):
        steps.append(Step(AttemptCounter.update({AttemptCounter.count: 0, AttemptCounter.updated_at: now}).where(
            AttemptCounter.scope.is_in([f"registration:{i}" for i in ids])
        )))
    for account_id in accounts_with("anonymise_person"):
        # Keeps the unique (organisation, email) index satisfied; no real address.
        steps.append(Step(Sql(
            Account,
            'UPDATE "account" SET "salutation" = {}, "first_name" = {}, "last_name" = {}, "email" = {}, "name_key" = {} '
            'WHERE "account"."id" = {}',
            "", "", "", f"geloescht-{account_id}@anonym.invalid", name_key("", ""), account_id,
        )))
    if ids := instances_with("anonymise_person"):
        steps += update_in(
            Outbox,
            'UPDATE "outbox" SET "recipient" = {}, "status" = {} WHERE ("outbox"."instance" IN ({ids}) '
            'AND "outbox"."status" = {})',
            ["", "cancelled"],
            ids,
            ["pending"],
        )
        steps += update_in(Outbox, 'UPDATE "outbox" SET "recipient" = {} WHERE "outbox"."instance" IN ({ids})', [""], ids)
    return steps


def _instance_updates(changes: list[Change], now: datetime) -> list[Step]:
    # One UPDATE for all changes (of distinct instances), joined to the list of
    # (id, version read, new state, new context): the WHERE clause matches each instance
    # only at the version it was read at, so any concurrent change is a conflict.
    rows = [
        (c.record.id, c.record.version, c.outcome.target, json.dumps(c.outcome.context, sort_keys=True) if c.outcome.context else "{}")
        for c in changes
    ]
    if is_postgres(FlowInstance):
        query = Sql(
            FlowInstance,
            'UPDATE "flow_instance" SET "state" = "read"."state", "context" = "read"."context"::json, '
            '"version" = "flow_instance"."version" + 1, "updated_at" = {} '
            'FROM unnest({}::int[], {}::int[], {}::text[], {}::text[]) AS "read"("id", "version", "state", "context") '
            'WHERE "flow_instance"."id" = "read"."id" AND "flow_instance"."version" = "read"."version"',
            now,
            *[list(column) for column in zip(*rows)],
        )
        return [Step(query, expect_rows=len(rows), counted=True, joinable=True)]
    # SQLite: the same join, the list as a VALUES table (3.33+ has UPDATE ... FROM); the
    # planner scans it and finds each instance by its primary key. (An OR chain of
    # (id, version) pairs needed splitting: SQLite refuses more than 1 000 terms.) The
    # statement starts with UPDATE, not WITH: only then does the driver report its row count.
    steps = []
    per_statement = MAX_PARAMETERS // 4
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        query = Sql(
            FlowInstance,
            'UPDATE "flow_instance" SET "state" = "read"."column3", "context" = "read"."column4", '
            '"version" = "flow_instance"."version" + 1, "updated_at" = {} FROM (VALUES '
            + ", ".join(["({}, {}, {}, {})"] * len(chunk))
            + ') AS "read" WHERE "flow_instance"."id" = "read"."column1" '
            'AND "flow_instance"."version" = "read"."column2"',
            now,
            *[value for row in chunk for value in row],
        )
        steps.append(Step(query, expect_rows=len(chunk), counted=True))
    return steps


def _timer_cancellations(changes: list[Change]) -> list[Step]:
    # One UPDATE per set of events to cancel (one set per target state: usually one per
    # batch). A single statement joined to the list of (instance, event) pairs was tried:
    # on SQLite it cost ~60 % more (docs/benchmarks.md, "Timers at their targets").
    groups: dict[frozenset[str], list[int]] = defaultdict(list)
    for change in changes:
        if change.outcome.timers_to_cancel:
            groups[frozenset(change.outcome.timers_to_cancel)].append(change.record.id)
    steps = []
    for events, ids in groups.items():
        names = sorted(events)
        if is_postgres(Timer):
            query = Sql(
                Timer,
                'UPDATE "timer" SET "status" = {} WHERE "timer"."status" = {} '
                'AND "timer"."instance" = ANY({}::int[]) AND "timer"."event" = ANY({}::text[])',
                "cancelled",
                "pending",
                ids,
                names,
            )
            steps.append(Step(query, joinable=True))
            continue
        for start in range(0, len(ids), MAX_PARAMETERS):
            chunk = ids[start : start + MAX_PARAMETERS]
            query = Sql(
                Timer,
                'UPDATE "timer" SET "status" = {} WHERE "timer"."status" = {} '
                f'AND "timer"."instance" IN ({marks(len(chunk))}) AND "timer"."event" IN ({marks(len(names))})',
                "cancelled",
                "pending",
                *chunk,
                *names,
            )
            steps.append(Step(query))
    return steps


_HISTORY_COLUMNS = (
    "instance", "organisation", "event", "from_state", "to_state", "actor", "client_ip", "details", "created_at"
)
_OUTBOX_COLUMNS = (
    "organisation", "instance", "kind", "recipient", "payload", "status", "attempts", "next_attempt_at",
    "last_error", "created_at", "sent_at",
)


def _history_row(change: Change, now: datetime) -> tuple:
    outcome = change.outcome
    details = {"flow_version": change.record.flow_version, **change.details}
    if outcome.mails:
        details["mails"] = outcome.mails
    return (
        change.record.id,
        change.record.organisation_id,
        outcome.event,
        outcome.source,
        outcome.target,
        change.actor,
        change.client_ip,
        dump_json(details),
        now,
    )


def _outbox_row(change: Change, kind: str, now: datetime) -> tuple:
    payload = {"flow_version": change.record.flow_version, "state": change.outcome.target}
    return (
        change.record.organisation_id,
        change.record.id,
        kind,
        change.record.recipient,
        dump_json(payload),
        "pending",
        0,
        now,
        "",
        now,
        None,
    )
