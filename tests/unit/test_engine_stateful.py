"""Hypothesis drives random event sequences through the shipped flow: the instance
never reaches a state the definition does not allow, and replaying the recorded
history from the initial state reproduces the current state."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from workflows.engine import EventNotAllowed
from workflows.registry import FlowRegistry

FLOW = FlowRegistry.from_directory().current("onboarding")
DEFINITION = FLOW.definition
ALL_EVENTS = sorted(set(DEFINITION.events) | {"bogus"})
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


class OnboardingMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.state = DEFINITION.initial_state
        self.context: dict = {}
        self.history: list[tuple[str, dict, str, str]] = []
        self.now = START

    @rule(event=st.sampled_from(ALL_EVENTS), complete=st.booleans(), hours=st.integers(0, 800))
    def send(self, event, complete, hours):
        self.now += timedelta(hours=hours)
        data = {"first_name": "Ana", "last_name": "Łukasz"} if complete else {}
        allowed = [
            t for t in DEFINITION.transitions if t.event == event and self.state in t.sources
        ]
        try:
            outcome = FLOW.run(self.state, event, self.now, context=self.context, data=data)
        except EventNotAllowed:
            # Refused only when no transition's guard could pass.
            assert not allowed or all(t.guard for t in allowed)
            return
        assert allowed, f"{event} ran in {self.state} without a transition in the definition"
        assert any(t.target == outcome.target for t in allowed)
        for _, due in outcome.timers_to_start:
            assert due > self.now
        self.history.append((event, data, outcome.source, outcome.target))
        self.state, self.context = outcome.target, outcome.context

    @invariant()
    def state_is_defined(self):
        assert self.state in DEFINITION.states

    @invariant()
    def history_replays_to_the_current_state(self):
        state, context = DEFINITION.initial_state, {}
        for event, data, source, target in self.history:
            assert state == source
            outcome = FLOW.run(state, event, START, context=context, data=data)
            assert outcome.target == target
            state, context = outcome.target, outcome.context
        assert state == self.state


OnboardingMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestOnboardingMachine = OnboardingMachine.TestCase
