"""The funnel (Trichter) of a flow version: the counters of db/funnel.py read with the
flow definition. No state or event is named here; what a step is comes from the file:

- The steps are the states that carry a role (the portal grants something there), in
  the order of the shortest path from the state the invitation event leads to, along
  transitions between such states (ties: the order of the file).
- A stop is any other state except the initial one: a state without a role (e.g. the
  expired, revoked or locked invitation) or a final state. An instance counts as stopped
  while it is in such a state, at the step it left for it; one that went on from a stop
  to a final state (deleted after expiry) keeps counting as the stop it came from.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from db.funnel import bucket_value
from workflows.definition import FlowDefinition
from core.i18n import _, ngettext

QUANTILES = (0.5, 0.9)


def steps_of(definition: FlowDefinition) -> list[str]:
    with_roles = [name for name, state in definition.states.items() if state.roles and not state.final]
    order = {name: index for index, name in enumerate(definition.states)}
    invitation = definition.event_for("invitation")
    starts = sorted({t.target for t in definition.transitions if t.event == invitation and t.target in with_roles}, key=order.get)
    distance = {name: 0 for name in starts}
    queue = deque(starts)
    while queue:
        state = queue.popleft()
        for t in definition.transitions:
            if state in t.sources and t.target in with_roles and t.target not in distance:
                distance[t.target] = distance[state] + 1
                queue.append(t.target)
    return sorted(distance, key=lambda name: (distance[name], order[name]))


def stops_of(definition: FlowDefinition) -> list[str]:
    steps = set(steps_of(definition))
    return [
        name for name, state in definition.states.items()
        if name not in steps and not state.initial and (state.final or not state.roles)
    ]


def percentile(histogram: dict[int, int], quantile: float) -> float | None:
    """Nearest rank: the value of the ceil(q * n)-th smallest stay, to its bucket."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = max(1, math.ceil(quantile * total)), 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    return None  # unreachable: seen ends at total >= rank


@dataclass
class StateTime:
    state: str
    label: str
    stays: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass
class Step:
    state: str
    label: str
    reached: int
    conversion: float | None  # share of the previous step's count that reached this one
    stopped: dict[str, int]  # stop state -> instances that stopped there at this step
    time: StateTime
    reminders: int
    reminded: int
    came_back: int  # reminded stays that then went on to a later step


@dataclass
class FunnelReport:
    flow: str
    version: int
    title: str
    since: date | None
    until: date | None
    organisation: int | None
    stops: list[tuple[str, str]]  # (state, label)
    steps: list[Step] = field(default_factory=list)
    stop_times: list[StateTime] = field(default_factory=list)

    @property
    def invitations(self) -> int:
        return self.steps[0].reached if self.steps else 0


def build_report(
    definition: FlowDefinition, rows: list[dict[str, Any]], since: date | None = None, until: date | None = None,
    organisation: int | None = None,
) -> FunnelReport:
    facts: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in rows:
        facts[(row["kind"], row["state"], row["detail"])] += int(row["count"])
    steps, stops = steps_of(definition), stops_of(definition)
    stopped = _stopped(facts, steps, stops, definition)
    report = FunnelReport(
        definition.name, definition.version, definition.title, since, until, organisation,
        [(s, definition.states[s].label) for s in stops],
    )
    previous = None
    for index, state in enumerate(steps):
        reached = facts[("entered", state, "")]
        later = set(steps[index + 1 :])
        report.steps.append(Step(
            state=state,
            label=definition.states[state].label,
            reached=reached,
            conversion=None if previous is None else (reached / previous if previous else None),
            stopped={stop: stopped.get((state, stop), 0) for stop in stops},
            time=_time(facts, state, definition),
            reminders=facts[("reminders", state, "")],
            reminded=facts[("reminded", state, "")],
            came_back=sum(n for (kind, s, target), n in facts.items() if kind == "came_back" and s == state and target in later),
        ))
        previous = reached
    report.stop_times = [_time(facts, s, definition) for s in stops if not definition.states[s].final]
    return report


def _time(facts: dict[tuple[str, str, str], int], state: str, definition: FlowDefinition) -> StateTime:
    histogram = {int(detail): n for (kind, s, detail), n in facts.items() if kind == "stay" and s == state and n}
    median, p90 = (percentile(histogram, q) for q in QUANTILES)
    return StateTime(state, definition.states[state].label, sum(histogram.values()), median, p90)


def _stopped(facts, steps: list[str], stops: list[str], definition: FlowDefinition) -> dict[tuple[str, str], int]:
    """(step, stop) -> instances now stopped there, from the `at` gauge (db/funnel.py)."""
    result: dict[tuple[str, str], int] = defaultdict(int)
    for (kind, state, detail), n in facts.items():
        if kind != "at" or state not in stops or not n:
            continue
        came_from, before = (detail.split("|") + [""])[:2]
        stop = state
        if definition.states[state].final and came_from in stops:
            stop, came_from, before = came_from, before, ""  # e.g. deleted after expiry: an expiry
        step = came_from if came_from in steps else (before if before in steps else None)
        if step is not None:
            result[(step, stop)] += n
    return result


# -- the table shown on the page, in the CSV and by the CLI ---------------------------

def hours(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 3600:.1f}".replace(".", ",")


def percent(share: float | None) -> str:
    return "" if share is None else f"{100 * share:.1f}".replace(".", ",") + " %"


def table_header(report: FunnelReport) -> list[str]:
    return [
        "Schritt", "Erreicht", "Umwandlung",
        *[f"Gestoppt: {label}" for _, label in report.stops],
        "Median (Stunden)", "90. Perzentil (Stunden)", "Erinnerungen", "Erinnert", "Danach weiter",
    ]


def table_rows(report: FunnelReport) -> list[list[str]]:
    return [
        [
            step.label, str(step.reached), percent(step.conversion),
            *[str(step.stopped[stop]) for stop, _ in report.stops],
            hours(step.time.median_seconds), hours(step.time.p90_seconds),
            str(step.reminders), str(step.reminded), str(step.came_back),
        ]
        for step in report.steps
    ]


def as_json(report: FunnelReport) -> dict[str, Any]:
    def time(t: StateTime) -> dict[str, Any]:
        return {"state": t.state, "label": t.label, "stays": t.stays, "median_seconds": t.median_seconds, "p90_seconds": t.p90_seconds}

    return {
        "flow": report.flow,
        "version": report.version,
        "since": report.since.isoformat() if report.since else None,
        "until": report.until.isoformat() if report.until else None,
        "organisation": report.organisation,
        "invitations": report.invitations,
        "steps": [
            {
                "state": s.state, "label": s.label, "reached": s.reached, "conversion": s.conversion,
                "stopped": s.stopped, "time": time(s.time), "reminders": s.reminders, "reminded": s.reminded,
                "came_back": s.came_back,
            }
            for s in report.steps
        ],
        "stop_times": [time(t) for t in report.stop_times],
    }


def summary(report: FunnelReport) -> str:
    """The chart's text alternative: one paragraph in the current language."""
    if not report.invitations:
        return _("Im gewählten Zeitraum gibt es keine Einladungen dieser Version.")
    first, last = report.steps[0], report.steps[-1]
    parts = [
        ngettext("%(count)d Einladung; %(reached)d erreichten „%(label)s“ (%(share)s).",
                 "%(count)d Einladungen; %(reached)d erreichten „%(label)s“ (%(share)s).", first.reached)
        % {"count": first.reached, "reached": last.reached, "label": last.label, "share": percent(last.reached / first.reached)}
    ]
    worst = max(report.steps[1:], key=lambda s: (1 - (s.conversion or 0)), default=None)
    if worst is not None and worst.conversion is not None:
        parts.append(_("Der größte Verlust liegt vor „%(label)s“: nur %(share)s des vorigen Schritts kamen an.")
                     % {"label": worst.label, "share": percent(worst.conversion)})
    stopped = sum(sum(s.stopped.values()) for s in report.steps)
    labels = ", ".join(str(label) for _stop, label in report.stops)
    parts.append(ngettext("%(count)d Einladung ist gestoppt (%(labels)s).", "%(count)d Einladungen sind gestoppt (%(labels)s).", stopped)
                 % {"count": stopped, "labels": labels})
    return " ".join(parts)


def to_csv(report: FunnelReport) -> str:
    """Semicolons and decimal commas, as German spreadsheet programs expect."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(table_header(report))
    writer.writerows(table_rows(report))
    return out.getvalue()


def to_text(report: FunnelReport) -> str:
    """The table with aligned columns, for a terminal."""
    lines = [table_header(report), *table_rows(report)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines) + "\n"
