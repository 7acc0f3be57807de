"""Run one event on one instance in memory: no I/O, so it is cheap and easy to test.

The write path (db/transitions.py) persists outcomes in one transaction.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from statemachine.exceptions import TransitionNotAllowed

from workflows.actions import Effects
from workflows.definition import FlowDefinition, TimerDef, TransitionDef
from workflows.machine import build_machine_class


class EventNotAllowed(Exception):
    """The event is unknown, not allowed in the current state, or its guard said no."""

    def __init__(self, event: str, state: str):
        self.event, self.state = event, state
        super().__init__(f"Event {event!r} is not allowed in state {state!r}.")


@dataclass
class Outcome:
    event: str
    source: str
    target: str
    internal: bool
    context: dict[str, Any]
    mails: list[str]
    records: set[str] = field(default_factory=set)
    timers_to_cancel: set[str] = field(default_factory=set)
    timers_to_start: list[tuple[str, datetime]] = field(default_factory=list)

    @property
    def changed_state(self) -> bool:
        return self.source != self.target


class _Row:
    """What python-statemachine binds to: just the state value."""

    __slots__ = ("state",)

    def __init__(self, state: str | None):
        self.state = state


class Flow:
    """A loaded definition together with its machine class, built once."""

    def __init__(self, definition: FlowDefinition):
        self.definition = definition
        self.machine_class = build_machine_class(definition)
        self._row = _Row(definition.initial_state)
        self._machine: Any = None
        # Results of the machine per (state, event, context, data); see run().
        self._results: OrderedDict[tuple, tuple | None] = OrderedDict()

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def version(self) -> int:
        return self.definition.version

    @cached_property
    def _events_by_state(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {s: [] for s in self.definition.states}
        for t in self.definition.transitions:
            for source in t.sources:
                if t.event not in result[source]:
                    result[source].append(t.event)
        return result

    def events_in(self, state: str) -> list[str]:
        """Events the definition offers in a state (guards are checked when sent)."""
        return list(self._events_by_state.get(state, []))

    def transitions_for(self, state: str, trigger: str) -> list[TransitionDef]:
        """The moves a trigger ("admin", "invitee") may make in a state, one per event."""
        seen: dict[str, TransitionDef] = {}
        for t in self.definition.transitions:
            if state in t.sources and t.trigger == trigger and t.event not in seen:
                seen[t.event] = t
        return list(seen.values())

    def label(self, state: str) -> str:
        return self.definition.states[state].label

    def badge(self, state: str) -> str:
        return self.definition.states[state].badge

    # Roles (workflows/roles.py): what the code may ask instead of naming states or events.
    def states_with(self, role: str) -> frozenset[str]:
        return self.definition.states_with(role)

    def has_role(self, state: str, role: str) -> bool:
        return self.definition.has_role(state, role)

    def event_for(self, role: str) -> str:
        return self.definition.event_for(role)

    def timer_for(self, purpose: str) -> TimerDef:
        return self.definition.timer_for(purpose)

    def run_through(
        self,
        state: str,
        event: str,
        now: datetime,
        context: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> list[Outcome]:
        """`event`, then every automatic transition (`auto: true`) it leads into: the
        outcomes to persist in this order, in one transaction. An automatic transition
        whose guard says no leaves the instance where it is."""
        outcomes = [self.run(state, event, now, context=context, data=data)]
        # The flow file cannot hold a circle of automatic transitions (definition.py).
        while outcomes[-1].changed_state and (auto := self.definition.auto_event(outcomes[-1].target)):
            try:
                outcomes.append(self.run(outcomes[-1].target, auto, now, context=outcomes[-1].context))
            except EventNotAllowed:
                break
        return outcomes

    def start(self, now: datetime, context: dict[str, Any] | None = None) -> tuple[str, list[tuple[str, datetime]]]:
        """The initial state and the timers that start in it."""
        initial = self.definition.initial_state
        return initial, self._timers_starting(initial, now)

    def run(
        self,
        state: str,
        event: str,
        now: datetime,
        context: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> Outcome:
        """The outcome of `event` in `state`, or EventNotAllowed.

        For a `deterministic` flow the python-statemachine result is remembered per
        (state, event, context, data) (plain JSON data only, at most RESULTS_PER_FLOW per
        flow version, least recently used dropped): a repeated input returns a fresh copy of
        it, with the timers planned for this `now`, without running the machine again."""
        if state not in self.definition.states:
            raise EventNotAllowed(event, state)
        # The machine (~0.1-0.2 ms) runs once per distinct input of a deterministic flow:
        # equal input gives an equal result, so later runs copy the remembered one.
        # Timers depend on `now` and are planned afresh every time.
        key = self._result_key(state, event, context, data)
        if key is not None and key in self._results:
            self._results.move_to_end(key)
            return self._remembered(key, now)
        effects = Effects(context=copy.deepcopy(context or {}), data=dict(data or {}))
        row, machine = self._bound_machine(state)
        try:
            machine.send(event, effects=effects)
        except TransitionNotAllowed:
            self._machine = None
            self._remember(key, None)
            raise EventNotAllowed(event, state) from None
        except BaseException:
            self._machine = None
            raise
        if self.definition.states[row.state].final:
            self._machine = None  # a machine that reached a final state accepts no more events
        transition = effects.data.pop("__transition__", None)
        internal = bool(transition is not None and transition.internal)
        outcome = Outcome(
            event=event,
            source=state,
            target=row.state,
            internal=internal,
            context=effects.context,
            mails=effects.mails,
            records=effects.records,
        )
        self._remember(key, outcome)
        if not internal:
            self._plan_timers(outcome, now)
        return outcome

    def _result_key(self, state: str, event: str, context: dict | None, data: dict | None) -> tuple | None:
        if not self.deterministic:
            return None
        frozen_context, frozen_data = _freeze(context or {}), _freeze(data or {})
        if frozen_context is None or frozen_data is None:
            return None  # not plain JSON data: no reliable equality, run the machine
        return (state, event, frozen_context, frozen_data)

    def _remember(self, key: tuple | None, outcome: Outcome | None) -> None:
        if key is None:
            return
        self._results[key] = None if outcome is None else (
            outcome.target,
            outcome.internal,
            copy.deepcopy(outcome.context),
            tuple(outcome.mails),
            frozenset(outcome.records),
        )
        if len(self._results) > RESULTS_PER_FLOW:
            self._results.popitem(last=False)

    def _remembered(self, key: tuple, now: datetime) -> Outcome:
        state, event = key[0], key[1]
        result = self._results[key]
        if result is None:
            raise EventNotAllowed(event, state)
        target, internal, context, mails, records = result
        outcome = Outcome(
            event=event,
            source=state,
            target=target,
            internal=internal,
            context=copy.deepcopy(context) if context else {},
            mails=list(mails),
            records=set(records),
        )
        if not internal:
            self._plan_timers(outcome, now)
        return outcome

    @cached_property
    def deterministic(self) -> bool:
        """Whether equal (state, event, context, data, now) always give an equal outcome:
        true when every guard and action the flow uses is one of those known to read
        only the context and event data and to write only to Effects."""
        actions = {a.name for s in self.definition.states.values() for a in s.on_enter}
        actions |= {a.name for t in self.definition.transitions for a in t.actions}
        guards = {t.guard for t in self.definition.transitions if t.guard}
        return actions <= DETERMINISTIC_ACTIONS and guards <= DETERMINISTIC_GUARDS

    def _bound_machine(self, state: str) -> tuple[_Row, Any]:
        # Constructing a machine costs ~500 us (callback registration), sending ~100 us.
        # The machine reads its state from the bound row, so one instance per flow is
        # reused by setting the row's state; `send` is synchronous, so no other task
        # can interleave. A machine is rebuilt after an error or a final state.
        if self._machine is None:
            self._row = _Row(state)
            self._machine = self.machine_class(model=self._row, state_field="state")
        self._row.state = state
        return self._row, self._machine

    def _plan_timers(self, outcome: Outcome, now: datetime) -> None:
        target = outcome.target
        final = self.definition.states[target].final
        for timer in self.definition.timers:
            # Leaving the states a timer lives in cancels it; re-entering its
            # start state (e.g. a resent invitation) restarts it.
            if final or target not in timer.active_in or target in timer.start_in:
                outcome.timers_to_cancel.add(timer.event)
        if not final:
            outcome.timers_to_start = self._timers_starting(target, now)

    def _timers_starting(self, state: str, now: datetime) -> list[tuple[str, datetime]]:
        return [(t.event, now + t.after) for t in self.definition.timers if state in t.start_in]


RESULTS_PER_FLOW = 4096  # remembered machine results per flow version (least recently used go)


def _freeze(value: Any) -> Any:
    """A hashable, type-exact form of plain JSON data (so 1, 1.0 and True differ), or None."""
    kind = type(value)
    if kind is dict:
        items = []
        for k, v in value.items():
            frozen = _freeze(v)
            if type(k) is not str or frozen is None:
                return None
            items.append((k, frozen))
        return ("d", tuple(sorted(items)))
    if kind is list:
        frozen_items = tuple(_freeze(v) for v in value)
        return None if None in frozen_items else ("l", frozen_items)
    if kind in (str, int, float, bool) or value is None:
        return (kind.__name__, value)
    return None


# Reviewed: these read only (context, data) and write only to Effects (workflows/actions.py,
# workflows/guards.py). A new guard or action is not on these lists until someone checks it,
# and a flow that uses it is run through the machine every time.
DETERMINISTIC_ACTIONS = frozenset(
    {"send_mail", "set_flag", "clear_flag", "end_links", "end_registration_sessions", "end_sessions", "anonymise_person",
     "revoke_devices", "reset_attempts"}
)
DETERMINISTIC_GUARDS = frozenset({"profile_complete", "device_bound", "device_missing"})
