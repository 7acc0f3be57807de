"""Build one python-statemachine class per flow definition version.

We build a `StateMachine` (not a `StateChart` via statemachine.io): a disallowed event
or a failed guard raises TransitionNotAllowed, and an exception in an action
propagates, so a failing action rolls the whole transition back.
"""

from __future__ import annotations

from typing import Any

from statemachine import Event, State, StateMachine

from workflows.actions import ACTIONS, Effects
from workflows.definition import Action, FlowDefinition
from workflows.guards import GUARDS


class _Base(StateMachine):
    def after_transition(self, effects: Effects, transition: Any) -> None:
        # Recorded so the engine knows which transition ran (guards may pick one of several).
        effects.data["__transition__"] = transition


def _action_method(actions: tuple[Action, ...]):
    def run(self, effects: Effects) -> None:
        for action in actions:
            ACTIONS[action.name].run(effects, action.argument)

    return run


def _guard_method(name: str):
    guard = GUARDS[name]

    def check(self, effects: Effects) -> bool:
        return guard(effects.context, effects.data)

    return check


def _identifier(action: Action) -> str:
    return "".join(c if c.isalnum() else "_" for c in f"{action.name}_{action.argument}")


def build_machine_class(definition: FlowDefinition) -> type[StateMachine]:
    states = {
        s.name: State(name=s.label, value=s.name, initial=s.initial, final=s.final)
        for s in definition.states.values()
    }
    attrs: dict[str, Any] = dict(states)
    for s in definition.states.values():
        if s.on_enter:
            attrs[f"on_enter_{s.name}"] = _action_method(s.on_enter)
    for name in GUARDS:
        attrs[f"guard_{name}"] = _guard_method(name)
    events: dict[str, Any] = {}
    for t in definition.transitions:
        kwargs: dict[str, Any] = {"internal": t.internal}
        if t.guard:
            kwargs["cond"] = f"guard_{t.guard}"
        if t.actions:
            # A readable name, so diagrams show e.g. "send_mail_invitation".
            method_name = "__".join(_identifier(a) for a in t.actions)
            attrs[method_name] = _action_method(t.actions)
            kwargs["on"] = method_name
        for source in t.sources:
            transition = states[source].to(states[t.target], **kwargs)
            events[t.event] = transition if t.event not in events else events[t.event] | transition
    labels = {}
    for t in definition.transitions:
        # Diagrams (Mermaid and SVG) mark automatic transitions, which no one sends.
        labels.setdefault(t.event, f"{t.label or t.event} (automatisch)" if t.auto else t.label)
    # Named with the flow file's German label, so diagrams show "Einladen", not "Invite".
    attrs.update({event: Event(transitions, id=event, name=labels[event] or None) for event, transitions in events.items()})
    class_name = "".join(part.title() for part in definition.name.split("_")) + f"V{definition.version}"
    return type(class_name, (_Base,), attrs)
