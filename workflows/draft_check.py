"""Every problem of a flow text at once, each with its line and key, for the editor:
`flows check` stops at the first, but a person typing wants to see them all."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from workflows.definition_messages import english

# The validator's own checks, item by item: the same messages `flows check` prints.
from workflows.definition import FlowDefinition, FlowDefinitionError, StateDef, _Validator, parse, role_problems

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Problem:
    line: int | None  # 1-based; None when the text has no line for it
    key: str
    message: str  # English, as `flows check` prints it
    code: str  # its id in workflows/definition_messages.py, for the web's German text
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CheckResult:
    definition: FlowDefinition | None  # None unless the text is valid
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_text(text: str, source: str = "<Entwurf>") -> CheckResult:
    try:
        raw = yaml.safe_load(text)
        tree = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        detail = str(getattr(exc, "problem", None) or exc)
        return CheckResult(None, (Problem(line, "file", english("yaml_invalid", {"detail": detail}), "yaml_invalid",
                                          (("detail", detail),)),))
    errors: list[FlowDefinitionError] = []
    definition = None
    try:
        definition = parse(text, source=source, require_roles=False)
    except FlowDefinitionError as exc:
        errors.append(exc)
    if isinstance(raw, dict):
        errors.extend(_item_errors(raw, source))
    if definition is not None:
        errors.extend(role_problems(definition))
    unique: dict[tuple[str, str], Problem] = {}
    for error in errors:
        unique.setdefault((error.key, error.message), Problem(line_of(tree, error.key), error.key, error.message,
                                                              error.code, tuple(sorted(error.params.items()))))
    problems = tuple(sorted(unique.values(), key=lambda p: (p.line or 0, p.key)))
    return CheckResult(definition if not problems else None, problems)


def _item_errors(raw: dict, source: str) -> list[FlowDefinitionError]:
    """Each state, transition and timer checked on its own, so one mistake does not hide
    the next (the whole file's check stops at the first)."""
    validator, errors = _Validator(source), []
    states = raw.get("states") if isinstance(raw.get("states"), dict) else {}
    for name, spec in states.items():
        if isinstance(spec, dict):  # alone, a state must be initial and final to pass those checks
            spec = {**spec, "initial": True, "final": True}
        try:
            validator.states({name: spec})
        except FlowDefinitionError as exc:
            errors.append(exc)
    known = {name: _stand_in(name) for name in states}
    transitions = raw.get("transitions") if isinstance(raw.get("transitions"), list) else []
    for i, spec in enumerate(transitions):
        try:
            validator.transitions([spec], known)
        except FlowDefinitionError as exc:
            errors.append(FlowDefinitionError(source, exc.key.replace("transitions[0]", f"transitions[{i}]", 1), exc.code, **exc.params))
    timers = raw.get("timers") if isinstance(raw.get("timers"), list) else []
    events = tuple(_EventStandIn(t.get("event")) for t in transitions if isinstance(t, dict))
    for i, spec in enumerate(timers):
        try:
            validator.timers([spec], known, events)
        except FlowDefinitionError as exc:
            errors.append(FlowDefinitionError(source, exc.key.replace("timers[0]", f"timers[{i}]", 1), exc.code, **exc.params))
    return errors


def _stand_in(name: str) -> StateDef:
    return StateDef(name=name, label=name)


@dataclass(frozen=True)
class _EventStandIn:
    event: object


def line_of(tree, key: str) -> int | None:
    """The line of `key` ("transitions[3].from") in the composed YAML, or of the nearest
    enclosing key that exists (a missing key is reported where it belongs)."""
    if tree is None:
        return None
    node, line = tree, tree.start_mark.line + 1
    for name, index in _STEP.findall(key):
        if name == "file":
            break
        if index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            node = node.value[int(index)]
        elif name and isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if getattr(k, "value", None) == name), None)
            if found is None:
                break
            line = found[0].start_mark.line + 1
            node = found[1]
            continue
        else:
            break
        line = node.start_mark.line + 1
    return line
