"""Replay recorded history under a draft: which invitations would have ended
differently, and which timers would fire for the running ones.

The replay works on the definition alone (no state machine, no I/O), so it is cheap
per invitation. A recorded event moves the draft the way it moved the real instance
(guards decided then, on data the history does not keep); timers of the draft fire
whenever they fall due between recorded events, and recorded timer events are not
replayed (the draft's own timers stand in for them). A recorded event the draft does
not allow at that moment, e.g. a registration after the draft's shorter expiry, ends the
replay of that invitation: the person could not have done it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from workflows.definition import FlowDefinition, TransitionDef

TIMER_ACTOR = "system:timer"


@dataclass(frozen=True)
class Recorded:
    event: str
    to_state: str
    actor: str
    at: datetime


@dataclass
class Outcome:
    state: str
    timers: dict[str, datetime] = field(default_factory=dict)
    stopped: bool = False  # a recorded event was impossible under the draft


@dataclass
class Summary:
    invitations: int = 0
    different: Counter = field(default_factory=Counter)  # (actual state, draft state) -> count
    pending: Counter = field(default_factory=Counter)  # timer event -> running invitations it would fire for
    next_due: dict[str, datetime] = field(default_factory=dict)


    def as_json(self) -> dict:
        """A form the database keeps between chunks (and the page reads when done)."""
        return {
            "invitations": self.invitations,
            "different": [[actual, simulated, n] for (actual, simulated), n in self.different.items()],
            "pending": dict(self.pending),
            "next_due": {event: due.isoformat() for event, due in self.next_due.items()},
        }

    @classmethod
    def from_json(cls, data: dict | None) -> "Summary":
        if not data:
            return cls()
        return cls(
            invitations=data["invitations"],
            different=Counter({(actual, simulated): n for actual, simulated, n in data["different"]}),
            pending=Counter(data["pending"]),
            next_due={event: datetime.fromisoformat(due) for event, due in data["next_due"].items()},
        )


def _transition(flow: FlowDefinition, state: str, event: str, target: str | None) -> TransitionDef | None:
    candidates = [t for t in flow.transitions if t.event == event and state in t.sources]
    return next((t for t in candidates if t.target == target), candidates[0] if candidates else None)


def _enter(flow: FlowDefinition, outcome: Outcome, t: TransitionDef, at: datetime) -> None:
    """As the engine: an internal transition leaves the timers; entering a state cancels
    the timers not active there or started there, and starts those starting there."""
    outcome.state = t.target
    if t.internal:
        return
    final = flow.states[t.target].final
    for timer in flow.timers:
        if final or t.target not in timer.active_in or t.target in timer.start_in:
            outcome.timers.pop(timer.event, None)
    if not final:
        for timer in flow.timers:
            if t.target in timer.start_in:
                outcome.timers[timer.event] = at + timer.after
    auto = flow.auto_event(t.target)
    if auto and (following := _transition(flow, t.target, auto, None)) is not None:
        _enter(flow, outcome, following, at)


def _fire_due(flow: FlowDefinition, outcome: Outcome, until: datetime) -> None:
    while outcome.timers:
        event, due = min(outcome.timers.items(), key=lambda item: item[1])
        if due > until:
            return
        del outcome.timers[event]
        t = _transition(flow, outcome.state, event, None)
        if t is not None:
            _enter(flow, outcome, t, due)


def replay(flow: FlowDefinition, history: list[Recorded], now: datetime) -> Outcome:
    outcome = Outcome(flow.initial_state)
    events = set(flow.events)
    for record in history:
        if record.actor == TIMER_ACTOR or record.event not in events:
            continue
        _fire_due(flow, outcome, record.at)
        t = _transition(flow, outcome.state, record.event, record.to_state)
        if t is None:
            if any(x.auto and x.event == record.event for x in flow.transitions):
                continue  # already taken by the draft's own automatic transition
            outcome.stopped = True
            break
        _enter(flow, outcome, t, record.at)
    _fire_due(flow, outcome, now)
    return outcome


def summarise(flow: FlowDefinition, instances, now: datetime, summary: Summary | None = None) -> Summary:
    """`instances`: (current state, its recorded history) per invitation; with `summary`,
    adds them to it (the simulation job runs in chunks)."""
    summary = summary if summary is not None else Summary()
    for actual, history in instances:
        summary.invitations += 1
        outcome = replay(flow, history, now)
        if outcome.state != actual:
            summary.different[(actual, outcome.state)] += 1
        for event, due in outcome.timers.items():
            summary.pending[event] += 1
            if event not in summary.next_due or due < summary.next_due[event]:
                summary.next_due[event] = due
    return summary
