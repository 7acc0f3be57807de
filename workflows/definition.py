"""Load and validate a flow file. Every error names the file and the offending key."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from core.i18n import KNOWN_LANGUAGES, SOURCE_LANGUAGE, LocalizedText
from workflows.actions import ACTIONS
from workflows.definition_messages import english
from workflows.durations import DurationError, parse_duration
from workflows.guards import GUARDS
from workflows.roles import ROLES, of_kind

BADGE_STYLES = frozenset({"neutral", "info", "progress", "success", "warning", "danger", "muted"})
TOP_LEVEL_KEYS = {"flow", "version", "title", "states", "transitions", "timers"}
STATE_KEYS = {"label", "badge", "initial", "final", "description", "on_enter", "roles"}
TRANSITION_KEYS = {"event", "from", "to", "guard", "actions", "internal", "label", "trigger", "confirm", "role", "auto"}
# Who may send an event: the admin table offers only "admin" events as row actions.
TRIGGERS = frozenset({"admin", "invitee", "system"})
TIMER_KEYS = {"event", "after", "start_in", "active_in", "purpose"}
# Names that would shadow python-statemachine's own attributes.
RESERVED_NAMES = {"send", "model", "configuration", "states", "events", "allowed_events", "activate_initial_state"}


class FlowDefinitionError(ValueError):
    """A problem of a flow file at `key`: an id of workflows/definition_messages.py and its
    parameters; `message` is its English text (the CLI's), the web renders it in German."""

    def __init__(self, source: str, key: str, code: str, **params: str):
        self.source, self.key, self.code, self.params = source, key, code, params
        self.message = english(code, params)
        super().__init__(f"{source}: {key}: {self.message}")


class MissingRole(LookupError):
    """The flow gives no state, event or timer the role the code asks for."""

    def __init__(self, flow: str, version: int, role: str):
        self.role = role
        super().__init__(f"flow {flow!r} version {version} has no {role!r} role")


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
    roles: frozenset[str] = frozenset()


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
    role: str | None = None
    auto: bool = False  # fires at once when the instance enters one of `sources`


@dataclass(frozen=True)
class TimerDef:
    event: str
    after: timedelta
    start_in: tuple[str, ...]  # entering any of these starts (or restarts) the timer
    active_in: frozenset[str]  # leaving all of these cancels it
    purpose: str | None = None


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

    # -- roles (workflows/roles.py): the code asks these, never for a state or event by name

    def states_with(self, role: str) -> frozenset[str]:
        _known(role, "state")
        return frozenset(s.name for s in self.states.values() if role in s.roles)

    def has_role(self, state: str, role: str) -> bool:
        _known(role, "state")
        spec = self.states.get(state)
        return spec is not None and role in spec.roles

    def event_for(self, role: str) -> str:
        _known(role, "event")
        event = next((t.event for t in self.transitions if t.role == role), None)
        if event is None:
            raise MissingRole(self.name, self.version, role)
        return event

    def timer_for(self, purpose: str) -> TimerDef:
        _known(purpose, "timer")
        timer = next((t for t in self.timers if t.purpose == purpose), None)
        if timer is None:
            raise MissingRole(self.name, self.version, purpose)
        return timer

    def auto_event(self, state: str) -> str | None:
        """The event that fires by itself when an instance enters `state`, if any."""
        return self._auto_events.get(state)

    @cached_property
    def _auto_events(self) -> dict[str, str]:
        # Asked after every transition (also in the timer sweep's batches): a dict, not a scan.
        return {source: t.event for t in self.transitions if t.auto for source in t.sources}

    @property
    def declares_roles(self) -> bool:
        return (
            any(s.roles for s in self.states.values())
            or any(t.role or t.auto for t in self.transitions)
            or any(t.purpose for t in self.timers)
        )


def _known(role: str, kind: str) -> None:
    """A misspelt role in code would silently match nothing: refuse it instead."""
    known = ROLES.get(role)
    if known is None or known.kind != kind:
        raise ValueError(f"{role!r} is not one of the {kind} roles in workflows/roles.py")


def load_file(path: str | Path) -> FlowDefinition:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowDefinitionError(str(path), "file", "file_unreadable", reason=str(exc.strerror)) from None
    return parse(text, source=str(path))


def parse(text: str, source: str = "<text>", require_roles: bool = True) -> FlowDefinition:
    """`require_roles=False` only for versions stored before flow files had roles, and for
    tests of the engine alone."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FlowDefinitionError(source, "file", "yaml_invalid", detail=str(exc)) from None
    definition = _Validator(source).definition(raw, text)
    if require_roles:
        check_roles(definition)
    return definition


def missing_translations(definition: FlowDefinition, languages: list[str]) -> list[FlowDefinitionError]:
    """Labels and confirmations without a text in one of `languages` (German and its
    Leichte Sprache variant excepted: they show the German text)."""
    wanted = [code for code in languages if code != SOURCE_LANGUAGE and not code.startswith(SOURCE_LANGUAGE + "-")]
    texts = [(f"states.{name}.label", state.label) for name, state in definition.states.items()]
    for transition in definition.transitions:
        key = f"transitions.{transition.event}"
        texts += [(f"{key}.label", transition.label), (f"{key}.confirm", transition.confirm)]
    problems = []
    for key, text in texts:
        for code in wanted:
            if text and code not in getattr(text, "translations", {}):
                problems.append(FlowDefinitionError(definition.source, f"{key}.{code}", "translation_missing"))
    return problems


def check_roles(definition: FlowDefinition) -> None:
    """Every role of workflows/roles.py is given: a missing one names itself and its use."""
    problems = role_problems(definition)
    if problems:
        raise problems[0]


def role_problems(definition: FlowDefinition) -> list[FlowDefinitionError]:
    """One error per role of workflows/roles.py the definition does not give."""
    problems = []
    where = {"state": "states", "event": "transitions", "timer": "timers"}
    for role in ROLES.values():
        if role.kind == "state":
            present = bool(definition.states_with(role.name))
        elif role.kind == "event":
            present = any(t.role == role.name for t in definition.transitions)
        else:
            present = any(t.purpose == role.name for t in definition.timers)
        if not present:
            problems.append(FlowDefinitionError(
                definition.source, where[role.kind], f"role_missing_{role.kind}",
                role=repr(role.name), name=role.name, purpose=role.purpose,
            ))
    return problems


class _Validator:
    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, code: str, **params: str) -> FlowDefinitionError:
        return FlowDefinitionError(self.source, key, code, **params)

    def mapping(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, "not_mapping")
        return value

    def only(self, value: dict, allowed: set[str], key: str) -> None:
        unknown = sorted(set(map(str, value)) - allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", "unknown_key", allowed=", ".join(sorted(allowed)))

    def text(self, value: Any, key: str) -> LocalizedText:
        """A label or confirmation: German text, or one per language ({de: ..., en: ...},
        German required); shown in the reader's language (core/i18n.py)."""
        if value is None or value == "":
            return LocalizedText("")
        if isinstance(value, str):
            return LocalizedText(value.strip())
        if not isinstance(value, dict):
            raise self.fail(key, "text_not_localized")
        for code, text in value.items():
            if code not in KNOWN_LANGUAGES:
                raise self.fail(f"{key}.{code}", "unknown_language", known=", ".join(KNOWN_LANGUAGES))
            if not isinstance(text, str) or not text.strip():
                raise self.fail(f"{key}.{code}", "empty_text")
        if SOURCE_LANGUAGE not in value:
            raise self.fail(f"{key}.{SOURCE_LANGUAGE}", "german_missing")
        return LocalizedText(value[SOURCE_LANGUAGE].strip(), {code: text.strip() for code, text in value.items()})

    def name(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.isidentifier() or value.startswith("_"):
            raise self.fail(key, "bad_name", value=repr(value))
        if value in RESERVED_NAMES:
            raise self.fail(key, "reserved_name", value=repr(value))
        return value

    def definition(self, raw: Any, text: str) -> FlowDefinition:
        raw = self.mapping(raw, "file")
        self.only(raw, TOP_LEVEL_KEYS, "file")
        for required in ("flow", "version", "states", "transitions"):
            if required not in raw:
                raise self.fail(required, "missing")
        name = self.name(raw["flow"], "flow")
        version = raw["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.fail("version", "bad_version")
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
            raise self.fail("states", "no_states")
        states: dict[str, StateDef] = {}
        for state_name, spec in raw.items():
            key = f"states.{state_name}"
            self.name(state_name, key)
            spec = self.mapping(spec, key)
            self.only(spec, STATE_KEYS, key)
            label = self.text(spec.get("label"), f"{key}.label")
            if not label:
                raise self.fail(f"{key}.label", "label_missing")
            badge = spec.get("badge", "neutral")
            if badge not in BADGE_STYLES:
                raise self.fail(f"{key}.badge", "one_of", allowed=", ".join(sorted(BADGE_STYLES)))
            states[state_name] = StateDef(
                name=state_name,
                label=label,
                badge=badge,
                initial=spec.get("initial") is True,
                final=spec.get("final") is True,
                description=str(spec.get("description") or ""),
                on_enter=self.actions(spec.get("on_enter") or [], f"{key}.on_enter"),
                roles=self.roles(spec.get("roles") or [], "state", f"{key}.roles"),
            )
        initial = [s.name for s in states.values() if s.initial]
        if not initial:
            raise self.fail("states", "no_initial")
        if len(initial) > 1:
            raise self.fail(f"states.{initial[1]}.initial", "two_initial", other=initial[0])
        if not any(s.final for s in states.values()):
            raise self.fail("states", "no_final")
        return states

    def actions(self, raw: Any, key: str) -> tuple[Action, ...]:
        if not isinstance(raw, list):
            raise self.fail(key, "actions_not_list")
        actions = []
        for i, item in enumerate(raw):
            item_key = f"{key}[{i}]"
            if isinstance(item, str):
                item = {item: None}
            if not isinstance(item, dict) or len(item) != 1:
                raise self.fail(item_key, "bad_action_item")
            (action_name, argument), = item.items()
            spec = ACTIONS.get(action_name)
            if spec is None:
                raise self.fail(f"{item_key}.{action_name}", "unknown_action", known=", ".join(sorted(ACTIONS)))
            problem = spec.check_argument(argument)
            if problem:
                code, params = problem
                raise self.fail(f"{item_key}.{action_name}", code, **params)
            actions.append(Action(action_name, argument))
        return tuple(actions)

    def roles(self, raw: Any, kind: str, key: str) -> frozenset[str]:
        if not isinstance(raw, list):
            raise self.fail(key, "roles_not_list")
        known = of_kind(kind)
        for name in raw:
            if name not in known:
                raise self.fail(key, f"unknown_{kind}_role", value=repr(name), known=", ".join(sorted(known)))
        return frozenset(raw)

    def role(self, raw: Any, kind: str, key: str) -> str | None:
        if raw is None:
            return None
        known = of_kind(kind)
        if raw not in known:
            code = "unknown_purpose" if kind == "timer" else f"unknown_{kind}_role"
            raise self.fail(key, code, value=repr(raw), known=", ".join(sorted(known)))
        return raw

    def state_ref(self, value: Any, states: dict, key: str) -> str:
        if value not in states:
            raise self.fail(key, "unknown_state", value=repr(value), known=", ".join(states))
        return value

    def transitions(self, raw: Any, states: dict[str, StateDef]) -> tuple[TransitionDef, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail("transitions", "transitions_not_list")
        result = []
        for i, spec in enumerate(raw):
            key = f"transitions[{i}]"
            spec = self.mapping(spec, key)
            self.only(spec, TRANSITION_KEYS, key)
            for required in ("event", "from", "to"):
                if required not in spec:
                    raise self.fail(f"{key}.{required}", "missing")
            event = self.name(spec["event"], f"{key}.event")
            if event in states:
                raise self.fail(f"{key}.event", "event_is_state", value=repr(event))
            sources = spec["from"] if isinstance(spec["from"], list) else [spec["from"]]
            sources = tuple(self.state_ref(s, states, f"{key}.from") for s in sources)
            for s in sources:
                if states[s].final:
                    raise self.fail(f"{key}.from", "leaves_final", value=repr(s))
            target = self.state_ref(spec["to"], states, f"{key}.to")
            guard = spec.get("guard")
            if guard is not None and guard not in GUARDS:
                raise self.fail(f"{key}.guard", "unknown_guard", value=repr(guard), known=", ".join(sorted(GUARDS)))
            trigger = spec.get("trigger", "system")
            if trigger not in TRIGGERS:
                raise self.fail(f"{key}.trigger", "one_of", allowed=", ".join(sorted(TRIGGERS)))
            internal = spec.get("internal") is True
            if internal and any(s != target for s in sources):
                raise self.fail(f"{key}.internal", "internal_not_self")
            auto = spec.get("auto", False)
            if not isinstance(auto, bool):
                raise self.fail(f"{key}.auto", "not_bool")
            if auto and (internal or trigger != "system"):
                raise self.fail(f"{key}.auto", "auto_with_trigger")
            if auto and target in sources:
                raise self.fail(f"{key}.auto", "auto_same_state")
            result.append(
                TransitionDef(
                    event=event,
                    sources=sources,
                    target=target,
                    guard=guard,
                    actions=self.actions(spec.get("actions") or [], f"{key}.actions"),
                    internal=internal,
                    label=self.text(spec.get("label"), f"{key}.label"),
                    trigger=trigger,
                    confirm=self.text(spec.get("confirm"), f"{key}.confirm"),
                    role=self.role(spec.get("role"), "event", f"{key}.role"),
                    auto=auto,
                )
            )
        self.event_roles(result)
        self.auto_transitions(result)
        return tuple(result)

    def event_roles(self, transitions: list[TransitionDef]) -> None:
        """A role belongs to one event; the transitions of an event agree on it."""
        role_of: dict[str, tuple[str, int]] = {}
        event_of: dict[str, str] = {}
        for i, t in enumerate(transitions):
            if t.role is None:
                continue
            if t.event in role_of and role_of[t.event][0] != t.role:
                raise self.fail(f"transitions[{i}].role", "event_role_twice", event=repr(t.event), role=repr(role_of[t.event][0]))
            if event_of.get(t.role, t.event) != t.event:
                raise self.fail(f"transitions[{i}].role", "role_on_two_events", role=repr(t.role), event=repr(event_of[t.role]))
            role_of[t.event], event_of[t.role] = (t.role, i), t.event

    def auto_transitions(self, transitions: list[TransitionDef]) -> None:
        """All transitions of an automatic event are automatic, a state has at most one
        automatic event, and automatic transitions never lead round in a circle."""
        auto_events = {t.event for t in transitions if t.auto}
        auto_from: dict[str, str] = {}
        for i, t in enumerate(transitions):
            if t.event in auto_events and not t.auto:
                raise self.fail(f"transitions[{i}].auto", "auto_partly", event=repr(t.event))
            for source in t.sources if t.auto else ():
                if auto_from.get(source, t.event) != t.event:
                    raise self.fail(f"transitions[{i}].auto", "two_auto_events", state=repr(source), event=repr(auto_from[source]))
                auto_from[source] = t.event
        edges: dict[str, set[str]] = {}
        for t in transitions:
            for source in t.sources if t.auto else ():
                edges.setdefault(source, set()).add(t.target)
        for start in edges:
            seen, queue = set(), deque(edges[start])
            while queue:
                state = queue.popleft()
                if state == start:
                    raise self.fail("transitions", "auto_cycle", state=repr(start))
                if state not in seen:
                    seen.add(state)
                    queue.extend(edges.get(state, ()))

    def timers(self, raw: Any, states: dict, transitions: tuple[TransitionDef, ...]) -> tuple[TimerDef, ...]:
        if not isinstance(raw, list):
            raise self.fail("timers", "timers_not_list")
        events = {t.event for t in transitions}
        result = []
        for i, spec in enumerate(raw):
            key = f"timers[{i}]"
            spec = self.mapping(spec, key)
            self.only(spec, TIMER_KEYS, key)
            for required in ("event", "after", "start_in"):
                if required not in spec:
                    raise self.fail(f"{key}.{required}", "missing")
            if spec["event"] not in events:
                raise self.fail(f"{key}.event", "timer_unknown_event", value=repr(spec["event"]))
            try:
                after = parse_duration(spec["after"])
            except DurationError as exc:
                raise self.fail(f"{key}.after", exc.code, **exc.params) from None
            starts = spec["start_in"] if isinstance(spec["start_in"], list) else [spec["start_in"]]
            start_in = tuple(self.state_ref(s, states, f"{key}.start_in") for s in starts)
            active = spec.get("active_in", list(start_in))
            if not isinstance(active, list):
                active = [active]
            active_in = frozenset(self.state_ref(s, states, f"{key}.active_in") for s in active)
            if missing := [s for s in start_in if s not in active_in]:
                raise self.fail(f"{key}.active_in", "active_misses_start", state=repr(missing[0]))
            purpose = self.role(spec.get("purpose"), "timer", f"{key}.purpose")
            if purpose is not None and any(t.purpose == purpose for t in result):
                raise self.fail(f"{key}.purpose", "purpose_twice", purpose=repr(purpose))
            result.append(TimerDef(spec["event"], after, start_in, active_in, purpose))
        if len({t.event for t in result}) != len(result):
            raise self.fail("timers", "timer_event_twice")
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
                raise self.fail(f"states.{state_name}", "unreachable", state=repr(initial))


def with_roles_from(old: FlowDefinition, current: FlowDefinition) -> FlowDefinition:
    """A version stored before flow files had roles takes the roles and automatic
    transitions of the current file, matched by id: in those versions the code itself
    held these meanings, under the same names."""
    if old.declares_roles:
        return old
    from dataclasses import replace

    event_roles = {t.event: t.role for t in current.transitions if t.role}
    auto_events = {t.event for t in current.transitions if t.auto}
    purposes = {t.event: t.purpose for t in current.timers if t.purpose}
    states = {
        name: replace(s, roles=current.states[name].roles if name in current.states else frozenset())
        for name, s in old.states.items()
    }
    transitions = tuple(
        replace(
            t,
            role=event_roles.get(t.event),
            auto=t.event in auto_events and not t.internal and t.trigger == "system" and t.target not in t.sources,
        )
        for t in old.transitions
    )
    timers = tuple(replace(t, purpose=purposes.get(t.event)) for t in old.timers)
    return replace(old, states=states, transitions=transitions, timers=timers)
