"""Load and validate a flow file. Every error names the file and the offending key."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from workflows.actions import ACTIONS
from workflows.durations import parse_duration
from workflows.guards import GUARDS

BADGE_STYLES = frozenset({"neutral", "info", "progress", "success", "warning", "danger", "muted"})
TOP_LEVEL_KEYS = {"flow", "version", "title", "states", "transitions", "timers"}
STATE_KEYS = {"label", "badge", "initial", "final", "description", "on_enter"}
TRANSITION_KEYS = {"event", "from", "to", "guard", "actions", "internal", "label", "trigger", "confirm"}
# Who may send an event: the admin table offers only "admin" events as row actions.
TRIGGERS = frozenset({"admin", "invitee", "system"})
TIMER_KEYS = {"event", "after", "start_in", "active_in"}
# Names that would shadow python-statemachine's own attributes.
RESERVED_NAMES = {"send", "model", "configuration", "states", "events", "allowed_events", "activate_initial_state"}


class FlowDefinitionError(ValueError):
    def __init__(self, source: str, key: str, message: str):
        self.source, self.key, self.message = source, key, message
        super().__init__(f"{source}: {key}: {message}")


@dataclass(frozen=True)
class Action:
    name: str
    argument: Any

    def __str__(self) -> str:
        return f"{self.name}: {self.argument}"


@dataclass(frozen=True)
class StateDef:
    name: str
    label: str
    badge: str = "neutral"
    initial: bool = False
    final: bool = False
    description: str = ""
    on_enter: tuple[Action, ...] = ()


@dataclass(frozen=True)
class TransitionDef:
    event: str
    sources: tuple[str, ...]
    target: str
    guard: str | None = None
    actions: tuple[Action, ...] = ()
    internal: bool = False
    label: str = ""
    trigger: str = "system"
    confirm: str = ""


@dataclass(frozen=True)
class TimerDef:
    event: str
    after: timedelta
    start_in: tuple[str, ...]  # entering any of these starts (or restarts) the timer
    active_in: frozenset[str]  # leaving all of these cancels it


@dataclass(frozen=True)
class FlowDefinition:
    name: str
    version: int
    title: str
    states: dict[str, StateDef]
    transitions: tuple[TransitionDef, ...]
    timers: tuple[TimerDef, ...]
    source: str = "<text>"
    text: str = field(default="", repr=False)

    @property
    def initial_state(self) -> str:
        return next(s.name for s in self.states.values() if s.initial)

    @property
    def events(self) -> list[str]:
        return list(dict.fromkeys(t.event for t in self.transitions))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def timer(self, event: str) -> TimerDef | None:
        return next((t for t in self.timers if t.event == event), None)


def load_file(path: str | Path) -> FlowDefinition:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowDefinitionError(str(path), "file", f"cannot be read ({exc.strerror})") from None
    return parse(text, source=str(path))


def parse(text: str, source: str = "<text>") -> FlowDefinition:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FlowDefinitionError(source, "file", f"is not valid YAML ({exc})") from None
    return _Validator(source).definition(raw, text)


class _Validator:
    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, message: str) -> FlowDefinitionError:
        return FlowDefinitionError(self.source, key, message)

    def mapping(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a mapping")
        return value

    def only(self, value: dict, allowed: set[str], key: str) -> None:
        unknown = sorted(set(map(str, value)) - allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(allowed))}")

    def name(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.isidentifier() or value.startswith("_"):
            raise self.fail(key, f"must be a lower-case word such as invited, not {value!r}")
        if value in RESERVED_NAMES:
            raise self.fail(key, f"{value!r} is reserved by the engine; choose another name")
        return value

    def definition(self, raw: Any, text: str) -> FlowDefinition:
        raw = self.mapping(raw, "file")
        self.only(raw, TOP_LEVEL_KEYS, "file")
        for required in ("flow", "version", "states", "transitions"):
            if required not in raw:
                raise self.fail(required, "is missing")
        name = self.name(raw["flow"], "flow")
        version = raw["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.fail("version", "must be a whole number >= 1")
        states = self.states(self.mapping(raw["states"], "states"))
        transitions = self.transitions(raw["transitions"], states)
        timers = self.timers(raw.get("timers") or [], states, transitions)
        self.reachability(states, transitions)
        return FlowDefinition(
            name=name,
            version=version,
            title=str(raw.get("title") or name),
            states=states,
            transitions=transitions,
            timers=timers,
            source=self.source,
            text=text,
        )

    def states(self, raw: dict) -> dict[str, StateDef]:
        if not raw:
            raise self.fail("states", "must list at least one state")
        states: dict[str, StateDef] = {}
        for state_name, spec in raw.items():
            key = f"states.{state_name}"
            self.name(state_name, key)
            spec = self.mapping(spec, key)
            self.only(spec, STATE_KEYS, key)
            label = spec.get("label")
            if not isinstance(label, str) or not label.strip():
                raise self.fail(f"{key}.label", "is missing: every state needs the label admins see")
            badge = spec.get("badge", "neutral")
            if badge not in BADGE_STYLES:
                raise self.fail(f"{key}.badge", f"must be one of {', '.join(sorted(BADGE_STYLES))}")
            states[state_name] = StateDef(
                name=state_name,
                label=label.strip(),
                badge=badge,
                initial=spec.get("initial") is True,
                final=spec.get("final") is True,
                description=str(spec.get("description") or ""),
                on_enter=self.actions(spec.get("on_enter") or [], f"{key}.on_enter"),
            )
        initial = [s.name for s in states.values() if s.initial]
        if not initial:
            raise self.fail("states", "no initial state: mark one state with 'initial: true'")
        if len(initial) > 1:
            raise self.fail(f"states.{initial[1]}.initial", f"only one initial state allowed (already {initial[0]})")
        if not any(s.final for s in states.values()):
            raise self.fail("states", "no final state: mark at least one state with 'final: true'")
        return states

    def actions(self, raw: Any, key: str) -> tuple[Action, ...]:
        if not isinstance(raw, list):
            raise self.fail(key, "must be a list such as [{send_mail: invitation}]")
        actions = []
        for i, item in enumerate(raw):
            item_key = f"{key}[{i}]"
            if isinstance(item, str):
                item = {item: None}
            if not isinstance(item, dict) or len(item) != 1:
                raise self.fail(item_key, "must be a name or one 'name: argument' pair such as send_mail: invitation")
            (action_name, argument), = item.items()
            spec = ACTIONS.get(action_name)
            if spec is None:
                raise self.fail(f"{item_key}.{action_name}", f"unknown action; known: {', '.join(sorted(ACTIONS))}")
            problem = spec.check_argument(argument)
            if problem:
                raise self.fail(f"{item_key}.{action_name}", problem)
            actions.append(Action(action_name, argument))
        return tuple(actions)

    def state_ref(self, value: Any, states: dict, key: str) -> str:
        if value not in states:
            raise self.fail(key, f"unknown state {value!r}; known: {', '.join(states)}")
        return value

    def transitions(self, raw: Any, states: dict[str, StateDef]) -> tuple[TransitionDef, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail("transitions", "must be a non-empty list")
        result = []
        for i, spec in enumerate(raw):
            key = f"transitions[{i}]"
            spec = self.mapping(spec, key)
            self.only(spec, TRANSITION_KEYS, key)
            for required in ("event", "from", "to"):
                if required not in spec:
                    raise self.fail(f"{key}.{required}", "is missing")
            event = self.name(spec["event"], f"{key}.event")
            if event in states:
                raise self.fail(f"{key}.event", f"{event!r} is also a state name; use a verb")
            sources = spec["from"] if isinstance(spec["from"], list) else [spec["from"]]
            sources = tuple(self.state_ref(s, states, f"{key}.from") for s in sources)
            for s in sources:
                if states[s].final:
                    raise self.fail(f"{key}.from", f"{s!r} is final: nothing may leave it")
            target = self.state_ref(spec["to"], states, f"{key}.to")
            guard = spec.get("guard")
            if guard is not None and guard not in GUARDS:
                raise self.fail(f"{key}.guard", f"unknown guard {guard!r}; known: {', '.join(sorted(GUARDS))}")
            trigger = spec.get("trigger", "system")
            if trigger not in TRIGGERS:
                raise self.fail(f"{key}.trigger", f"must be one of {', '.join(sorted(TRIGGERS))}")
            internal = spec.get("internal") is True
            if internal and any(s != target for s in sources):
                raise self.fail(f"{key}.internal", "only a transition from a state to itself can be internal")
            result.append(
                TransitionDef(
                    event=event,
                    sources=sources,
                    target=target,
                    guard=guard,
                    actions=self.actions(spec.get("actions") or [], f"{key}.actions"),
                    internal=internal,
                    label=str(spec.get("label") or ""),
                    trigger=trigger,
                    confirm=str(spec.get("confirm") or ""),
                )
            )
        return tuple(result)

    def timers(self, raw: Any, states: dict, transitions: tuple[TransitionDef, ...]) -> tuple[TimerDef, ...]:
        if not isinstance(raw, list):
            raise self.fail("timers", "must be a list")
        events = {t.event for t in transitions}
        result = []
        for i, spec in enumerate(raw):
            key = f"timers[{i}]"
            spec = self.mapping(spec, key)
            self.only(spec, TIMER_KEYS, key)
            for required in ("event", "after", "start_in"):
                if required not in spec:
                    raise self.fail(f"{key}.{required}", "is missing")
            if spec["event"] not in events:
                raise self.fail(f"{key}.event", f"unknown event {spec['event']!r}; a timer fires an event of a transition")
            try:
                after = parse_duration(spec["after"])
            except ValueError as exc:
                raise self.fail(f"{key}.after", str(exc)) from None
            starts = spec["start_in"] if isinstance(spec["start_in"], list) else [spec["start_in"]]
            start_in = tuple(self.state_ref(s, states, f"{key}.start_in") for s in starts)
            active = spec.get("active_in", list(start_in))
            if not isinstance(active, list):
                active = [active]
            active_in = frozenset(self.state_ref(s, states, f"{key}.active_in") for s in active)
            if missing := [s for s in start_in if s not in active_in]:
                raise self.fail(f"{key}.active_in", f"must include the start state {missing[0]!r}")
            result.append(TimerDef(spec["event"], after, start_in, active_in))
        if len({t.event for t in result}) != len(result):
            raise self.fail("timers", "each event may have only one timer")
        return tuple(result)

    def reachability(self, states: dict[str, StateDef], transitions: tuple[TransitionDef, ...]) -> None:
        initial = next(s.name for s in states.values() if s.initial)
        seen, queue = {initial}, deque([initial])
        while queue:
            current = queue.popleft()
            for t in transitions:
                if current in t.sources and t.target not in seen:
                    seen.add(t.target)
                    queue.append(t.target)
        for state_name in states:
            if state_name not in seen:
                raise self.fail(f"states.{state_name}", f"unreachable from the initial state {initial!r}")
