"""Every problem the flow checks report, by id, with the English text `flows check`
prints. A problem carries its id and parameters (workflows.definition.FlowDefinitionError),
so the web layer renders it in German from its own table under the same ids
(web/flow_check_texts.py). Parameters are already written out (names quoted, lists
joined), the same in both languages."""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    "file_unreadable": "cannot be read ({reason})",
    "yaml_invalid": "is not valid YAML ({detail})",
    "file_changed": "the file changed but its version is still {version}; raise the version so that running "
                    "instances keep the flow they started with",
    "defined_twice": "{value} is defined twice",
    "role_missing_state": "no state has the role {role} ({purpose}); add roles: [{name}] to a state",
    "role_missing_event": "no event has the role {role} ({purpose}); add role: {name} to a transition",
    "role_missing_timer": "no timer has the role {role} ({purpose}); add purpose: {name} to a timer",
    "not_mapping": "must be a mapping",
    "unknown_key": "unknown key; allowed: {allowed}",
    "bad_name": "must be a lower-case word such as invited, not {value}",
    "reserved_name": "{value} is reserved by the engine; choose another name",
    "missing": "is missing",
    "bad_version": "must be a whole number >= 1",
    "no_states": "must list at least one state",
    "label_missing": "is missing: every state needs the label admins see",
    "one_of": "must be one of {allowed}",
    "text_not_localized": "must be a text or one text per language, e.g. {{de: Eingeladen, en: Invited}}",
    "unknown_language": "is no known language; known: {known}",
    "empty_text": "must be a non-empty text",
    "translation_missing": "has no translation (PARTNERPORTAL_LANGUAGES offers it)",
    "german_missing": "is missing: German is required (the source of every text)",
    "no_initial": "no initial state: mark one state with 'initial: true'",
    "two_initial": "only one initial state allowed (already {other})",
    "no_final": "no final state: mark at least one state with 'final: true'",
    "actions_not_list": "must be a list such as [{{send_mail: invitation}}]",
    "bad_action_item": "must be a name or one 'name: argument' pair such as send_mail: invitation",
    "unknown_action": "unknown action; known: {known}",
    "unknown_mail": "unknown mail {value}; known: {known}",
    "bad_flag": "flag name must be a word such as device_bound, not {value}",
    "no_argument": "takes no argument: write it as a plain list item",
    "roles_not_list": "must be a list such as [may_log_in]",
    "unknown_state_role": "unknown state role {value}; known: {known}",
    "unknown_event_role": "unknown event role {value}; known: {known}",
    "unknown_purpose": "unknown purpose {value}; known: {known}",
    "unknown_state": "unknown state {value}; known: {known}",
    "transitions_not_list": "must be a non-empty list",
    "event_is_state": "{value} is also a state name; use a verb",
    "leaves_final": "{value} is final: nothing may leave it",
    "unknown_guard": "unknown guard {value}; known: {known}",
    "internal_not_self": "only a transition from a state to itself can be internal",
    "not_bool": "must be true or false",
    "auto_with_trigger": "an automatic transition is sent by the system: no trigger, not internal",
    "auto_same_state": "an automatic transition must lead to another state",
    "event_role_twice": "event {event} already has the role {role}",
    "role_on_two_events": "the role {role} already belongs to the event {event}",
    "auto_partly": "event {event} is automatic elsewhere: mark every transition of it 'auto: true'",
    "two_auto_events": "state {state} already has the automatic event {event}",
    "auto_cycle": "automatic transitions lead from {state} back to it",
    "timers_not_list": "must be a list",
    "timer_unknown_event": "unknown event {value}; a timer fires an event of a transition",
    "duration_expected": "expected a duration such as 720h, 3d or 10m",
    "duration_invalid": "{value} is not a duration such as 720h, 3d or 10m",
    "duration_not_positive": "{value} must be longer than zero",
    "active_misses_start": "must include the start state {state}",
    "purpose_twice": "another timer already has the purpose {purpose}",
    "timer_event_twice": "each event may have only one timer",
    "unreachable": "unreachable from the initial state {state}",
}


def english(code: str, params: dict[str, str]) -> str:
    return MESSAGES[code].format(**params)
