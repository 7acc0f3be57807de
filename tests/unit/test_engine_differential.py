"""`Flow.run` remembers the machine's results (workflows/engine.py); this compares it with
python-statemachine run bare (a new machine per event, no cache) on random flows built
from every registered guard and action, random states, events, contexts and event data.

Inputs repeat on purpose (a small pool, drawn again and again, at different times), so most
runs are answered from the cache; every returned outcome is then changed by the caller, so
a cache that handed out its own containers would show up in a later comparison."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from unittest.mock import patch

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st
from statemachine.exceptions import TransitionNotAllowed

from workflows import engine
from workflows.actions import ACTIONS, MAIL_KINDS, Effects
from workflows.definition import FlowDefinition, parse
from workflows.engine import EventNotAllowed, Flow
from workflows.guards import GUARDS

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
FLAGS = ("device_bound", "seen", "x")  # device_bound is what the guards read
EVENTS = ("go", "back", "stay", "poke", "finish")


def _argument(draw, name: str):
    if name == "send_mail":
        return draw(st.sampled_from(sorted(MAIL_KINDS)))
    if name in ("set_flag", "clear_flag"):
        return draw(st.sampled_from(FLAGS))
    return None


@st.composite
def action_lists(draw) -> list:
    names = draw(st.lists(st.sampled_from(sorted(ACTIONS)), max_size=3))
    return [name if (argument := _argument(draw, name)) is None else {name: argument} for name in names]


@st.composite
def flows(draw) -> FlowDefinition:
    """A valid flow file: states s0..sn (s0 initial), each reachable and with a way to a final one."""
    count = draw(st.integers(2, 6))
    names = [f"s{i}" for i in range(count)]
    finals = {names[-1]} | {n for n in names[1:-1] if draw(st.booleans()) and draw(st.booleans())}
    states = {
        n: {"label": n.upper(), "initial": n == "s0", "final": n in finals, "on_enter": draw(action_lists())}
        for n in names
    }
    open_states = [n for n in names if n not in finals]
    transitions = []

    def transition(sources: list[str], target: str) -> dict:
        spec = {"event": draw(st.sampled_from(EVENTS)), "from": sources, "to": target, "actions": draw(action_lists())}
        if draw(st.booleans()):
            spec["guard"] = draw(st.sampled_from(sorted(GUARDS)))
        if sources == [target] and draw(st.booleans()):
            spec["internal"] = True
        return spec

    for i, n in enumerate(names[1:], start=1):  # reachability: each state from an earlier open one
        transitions.append(transition([draw(st.sampled_from([s for s in open_states if names.index(s) < i]))], n))
    for n in open_states:  # python-statemachine wants a way out to a final state from each
        transitions.append(transition([n], draw(st.sampled_from(sorted(finals)))))
    for _ in range(draw(st.integers(0, 6))):
        sources = draw(st.lists(st.sampled_from(open_states), min_size=1, max_size=2, unique=True))
        transitions.append(transition(sources, draw(st.sampled_from(names))))
    used_events = sorted({t["event"] for t in transitions})
    timers = []
    for event in draw(st.lists(st.sampled_from(used_events), max_size=2, unique=True)):
        start_in = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
        active_in = sorted(set(start_in) | set(draw(st.lists(st.sampled_from(names), max_size=2))))
        timers.append({"event": event, "after": f"{draw(st.integers(1, 900))}h", "start_in": start_in, "active_in": active_in})
    text = yaml.safe_dump({"flow": "random", "version": 1, "states": states, "transitions": transitions, "timers": timers})
    # Roles are what the application needs of a flow, not what the engine runs: random
    # flows leave them out.
    return parse(text, source="<random flow>", require_roles=False)


# Plain JSON from a small alphabet, so that inputs repeat, and with values that are equal
# in Python but differ as JSON (0, False; 1, 1.0, True), so that a cache keyed loosely mixes them up.
scalars = st.sampled_from([None, False, True, 0, 1, 1.0, "", "1", "Ana"])
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from("ab"), inner, max_size=2), max_leaves=3)
contexts = st.dictionaries(st.sampled_from(FLAGS), json_values, max_size=2)
event_data = st.dictionaries(st.sampled_from(["first_name", "last_name", "note"]), json_values, max_size=3)


def _exact(context: dict) -> str:
    """Type-exact: 1, 1.0 and True are equal in Python but not here."""
    return json.dumps(context, sort_keys=True)


def bare_run(definition: FlowDefinition, machine_class, state, event, now, context, data) -> tuple | None:
    """The outcome python-statemachine gives on a machine of its own, as the tuple
    compared below; None when the event is refused."""
    if state not in definition.states:
        return None

    class Row:
        pass

    row = Row()
    row.state = state
    machine = machine_class(model=row, state_field="state")
    effects = Effects(context=copy.deepcopy(context), data=dict(data))
    try:
        machine.send(event, effects=effects)
    except TransitionNotAllowed:
        return None
    target = row.state
    internal = bool(effects.data["__transition__"].internal)
    cancel, start = set(), []
    if not internal:  # timers as the README describes them
        final = definition.states[target].final
        for timer in definition.timers:
            if final or target not in timer.active_in or target in timer.start_in:
                cancel.add(timer.event)
        if not final:
            start = [(t.event, now + t.after) for t in definition.timers if target in t.start_in]
    return (event, state, target, internal, _exact(effects.context), effects.mails, effects.records, cancel, start)


def cached_run(flow: Flow, state, event, now, context, data) -> tuple | None:
    try:
        o = flow.run(state, event, now, context=context, data=data)
    except EventNotAllowed:
        return None
    result = (o.event, o.source, o.target, o.internal, _exact(o.context), list(o.mails), set(o.records),
              set(o.timers_to_cancel), list(o.timers_to_start))
    # The caller owns what it got: changing it must not change a later answer.
    o.context["__changed__"] = [1]
    o.mails.append("changed")
    o.records.add("changed")
    o.timers_to_cancel.add("changed")
    o.timers_to_start.append(("changed", now))
    return result


inputs = st.tuples(st.sampled_from(["s0", "s1", "s2", "s5", "nowhere"]), st.sampled_from(EVENTS + ("bogus",)), contexts, event_data)


def _lookalike(value):
    """The same data with 1, 1.0 and True (and 0 and False) swapped round: equal in Python."""
    if isinstance(value, dict):
        return {k: _lookalike(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lookalike(v) for v in value]
    for a, b in ((True, 1), (False, 0)):
        if value is a:
            return b
    if type(value) is int and value in (0, 1):
        return float(value)
    if type(value) is float:
        return bool(value)
    return value


@st.composite
def pools(draw, min_size: int = 1) -> list:
    """Inputs to draw from again and again; some with a look-alike twin."""
    base = draw(st.lists(inputs, min_size=min_size, max_size=3))
    return base + [(s, e, _lookalike(c), _lookalike(d)) for s, e, c, d in base if draw(st.booleans())]


def _compare(definition: FlowDefinition, pool, picks, capacity: int) -> None:
    flow = Flow(definition)
    with patch.object(engine, "RESULTS_PER_FLOW", capacity):
        for step, (index, hours) in enumerate(picks):
            state, event, context, data = pool[index % len(pool)]
            now = START + timedelta(hours=hours)
            given_context, given_data = copy.deepcopy(context), copy.deepcopy(data)
            expected = bare_run(definition, flow.machine_class, state, event, now, context, data)
            actual = cached_run(flow, state, event, now, context, data)
            assert actual == expected, f"step {step}: {state} --{event}--> with {context!r}, {data!r}"
            assert (context, data) == (given_context, given_data), "the inputs are left as they were"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    definition=flows(),
    pool=pools(),
    picks=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2000)), min_size=1, max_size=25),
)
def test_remembered_results_equal_the_bare_machine(definition, pool, picks):
    _compare(definition, pool, picks, capacity=engine.RESULTS_PER_FLOW)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    definition=flows(),
    pool=pools(min_size=2),
    picks=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2000)), min_size=2, max_size=25),
)
def test_remembered_results_equal_the_bare_machine_while_the_cache_evicts(definition, pool, picks):
    _compare(definition, pool, picks, capacity=1)


def test_the_shipped_flow_uses_only_reviewed_guards_and_actions():
    from workflows.registry import FlowRegistry

    assert FlowRegistry.from_directory().current("onboarding").deterministic
