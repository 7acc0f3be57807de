"""What changes between two versions of a flow, as German sentences for the preview
("Frist der Einladung: 720 h → 336 h")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from workflows.definition import FlowDefinition, TimerDef, TransitionDef

# How the preview names a timer by its purpose; others are named by their event's label.
PURPOSE_NAMES = {"expiry": "Frist der Einladung"}
TRIGGER_NAMES = {"admin": "Admin", "invitee": "eingeladene Person", "system": "System"}


@dataclass(frozen=True)
class Change:
    kind: str  # "added", "removed" or "changed": the badge of the line
    area: str  # Status, Übergang, Frist
    text: str


def hours(delta: timedelta) -> str:
    value = delta.total_seconds() / 3600
    return f"{value:g} h"


def describe(old: FlowDefinition, new: FlowDefinition) -> list[Change]:
    return _states(old, new) + _transitions(old, new) + _timers(old, new)


def _quote(value: str) -> str:
    return f"„{value}“"


def _states(old: FlowDefinition, new: FlowDefinition) -> list[Change]:
    changes = []
    for name, state in new.states.items():
        if name not in old.states:
            changes.append(Change("added", "Status", f"Neuer Status {_quote(state.label)} ({name})"))
            continue
        before = old.states[name]
        label = f"Status {_quote(before.label)}"
        if before.label != state.label:
            changes.append(Change("changed", "Status", f"{label}: Bezeichnung {_quote(before.label)} → {_quote(state.label)}"))
        if before.description != state.description:
            changes.append(Change("changed", "Status", f"{label}: Beschreibung {_quote(before.description)} → {_quote(state.description)}"))
        if before.badge != state.badge:
            changes.append(Change("changed", "Status", f"{label}: Darstellung {before.badge} → {state.badge}"))
        if before.roles != state.roles:
            changes.append(Change("changed", "Status", f"{label}: Rollen {_list(before.roles)} → {_list(state.roles)}"))
        changes.extend(_mails(label, before.on_enter, state.on_enter, "Status"))
        if (before.initial, before.final) != (state.initial, state.final):
            changes.append(Change("changed", "Status", f"{label}: {'Anfang' if state.initial else 'Ende' if state.final else 'kein Anfang und kein Ende mehr'}"))
    for name, state in old.states.items():
        if name not in new.states:
            changes.append(Change("removed", "Status", f"Status {_quote(state.label)} ({name}) entfällt"))
    return changes


def _list(values) -> str:
    return ", ".join(sorted(values)) or "keine"


def _key(t: TransitionDef) -> tuple[str, tuple[str, ...]]:
    return (t.event, t.sources)


def _name(flow: FlowDefinition, t: TransitionDef) -> str:
    sources = ", ".join(flow.states[s].label for s in t.sources)
    return f"Übergang {_quote(t.label or t.event)} ({sources} → {flow.states[t.target].label})"


def _transitions(old: FlowDefinition, new: FlowDefinition) -> list[Change]:
    changes = []
    before_by_key = {_key(t): t for t in old.transitions}
    after_by_key = {_key(t): t for t in new.transitions}
    for key, t in after_by_key.items():
        before = before_by_key.get(key)
        if before is None:
            changes.append(Change("added", "Übergang", f"Neuer {_name(new, t)}"))
            continue
        name = _name(old, before)
        if before.target != t.target:
            changes.append(Change("changed", "Übergang", f"{name}: Ziel {_quote(_label(old, before.target))} → {_quote(_label(new, t.target))}"))
        if before.label != t.label:
            changes.append(Change("changed", "Übergang", f"{name}: Bezeichnung {_quote(before.label)} → {_quote(t.label)}"))
        if before.guard != t.guard:
            changes.append(Change("changed", "Übergang", f"{name}: Bedingung {before.guard or 'keine'} → {t.guard or 'keine'}"))
        if before.trigger != t.trigger:
            changes.append(Change("changed", "Übergang", f"{name}: ausgelöst durch {TRIGGER_NAMES[before.trigger]} → {TRIGGER_NAMES[t.trigger]}"))
        if before.confirm != t.confirm:
            changes.append(Change("changed", "Übergang", f"{name}: Rückfrage {_quote(before.confirm)} → {_quote(t.confirm)}"))
        if before.role != t.role:
            changes.append(Change("changed", "Übergang", f"{name}: Rolle {before.role or 'keine'} → {t.role or 'keine'}"))
        changes.extend(_mails(name, before.actions, t.actions, "Übergang"))
        other = [a for a in before.actions if a.name != "send_mail"], [a for a in t.actions if a.name != "send_mail"]
        if other[0] != other[1]:
            changes.append(Change("changed", "Übergang", f"{name}: Aktionen {_actions(other[0])} → {_actions(other[1])}"))
    for key, t in before_by_key.items():
        if key not in after_by_key:
            changes.append(Change("removed", "Übergang", f"{_name(old, t)} entfällt"))
    return changes


def _label(flow: FlowDefinition, state: str) -> str:
    return flow.states[state].label


def _actions(actions) -> str:
    return ", ".join(str(a) if a.argument is not None else a.name for a in actions) or "keine"


def _mails(name: str, before, after, area: str) -> list[Change]:
    old = [a.argument for a in before if a.name == "send_mail"]
    new = [a.argument for a in after if a.name == "send_mail"]
    changes = [Change("added", area, f"{name}: sendet neu die E-Mail {_quote(m)}") for m in new if m not in old]
    changes += [Change("removed", area, f"{name}: sendet die E-Mail {_quote(m)} nicht mehr") for m in old if m not in new]
    return changes


def _timer_name(flow: FlowDefinition, timer: TimerDef) -> str:
    if timer.purpose in PURPOSE_NAMES:
        return PURPOSE_NAMES[timer.purpose]
    label = next((t.label for t in flow.transitions if t.event == timer.event and t.label), timer.event)
    return f"Frist {_quote(label)}"


def _timers(old: FlowDefinition, new: FlowDefinition) -> list[Change]:
    changes = []
    before_by_event = {t.event: t for t in old.timers}
    after_by_event = {t.event: t for t in new.timers}
    for event, timer in after_by_event.items():
        before = before_by_event.get(event)
        name = _timer_name(new, timer)
        if before is None:
            changes.append(Change("added", "Frist", f"Neue {name}: {hours(timer.after)}"))
            continue
        if before.after != timer.after:
            changes.append(Change("changed", "Frist", f"{name}: {hours(before.after)} → {hours(timer.after)}"))
        if before.start_in != timer.start_in:
            changes.append(Change("changed", "Frist", f"{name}: beginnt in {_states_of(old, before.start_in)} → {_states_of(new, timer.start_in)}"))
        if before.active_in != timer.active_in:
            changes.append(Change("changed", "Frist", f"{name}: gilt in {_states_of(old, before.active_in)} → {_states_of(new, timer.active_in)}"))
    for event, timer in before_by_event.items():
        if event not in after_by_event:
            changes.append(Change("removed", "Frist", f"{_timer_name(old, timer)} ({hours(timer.after)}) entfällt"))
    return changes


def _states_of(flow: FlowDefinition, states) -> str:
    return ", ".join(sorted(flow.states[s].label for s in states))
