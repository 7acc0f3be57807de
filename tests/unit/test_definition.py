"""The loader accepts the shipped flow and rejects each kind of broken definition,
naming the file and the offending key."""

from __future__ import annotations

import pytest
import yaml

from workflows.definition import FlowDefinitionError, load_file, parse
from workflows.registry import SHIPPED_FLOWS_DIR

SHIPPED = SHIPPED_FLOWS_DIR / "onboarding.yaml"


def shipped() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def broken(change) -> str:
    data = shipped()
    change(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_shipped_flow_loads_with_the_manuals_labels_and_720_hours():
    definition = load_file(SHIPPED)
    labels = {s.label for s in definition.states.values()}
    assert {"Eingeladen", "beantragt", "Erfolgreich abgeschlossen", "Abgelaufen", "Widerrufen", "Gesperrt"} <= labels
    assert definition.initial_state == "new"
    assert definition.timer("expire").after.total_seconds() == 720 * 3600
    for event in ["invite", "expire", "complete_profile", "activate_device", "consent", "done", "resend", "revoke", "lock", "unlock"]:
        assert event in definition.events


def _drop_label(d):
    del d["states"]["invited"]["label"]


def _no_initial(d):
    del d["states"]["new"]["initial"]


def _no_final(d):
    del d["states"]["deleted"]["final"]


def _unknown_target(d):
    d["transitions"][0]["to"] = "nowhere"


def _unknown_source(d):
    d["transitions"][0]["from"] = "nowhere"


def _unknown_guard(d):
    d["transitions"][2]["guard"] = "is_full_moon"


def _unknown_action(d):
    d["transitions"][0]["actions"] = [{"launch_rocket": "now"}]


def _unknown_mail(d):
    d["transitions"][0]["actions"] = [{"send_mail": "birthday"}]


def _timer_on_unknown_event(d):
    d["timers"][0]["event"] = "explode"


def _timer_bad_duration(d):
    d["timers"][0]["after"] = "soon"


def _unreachable_state(d):
    d["states"]["limbo"] = {"label": "Schwebe"}


def _typo_key(d):
    d["transitions"][0]["too"] = d["transitions"][0].pop("to")


def _leave_final(d):
    d["transitions"].insert(0, {"event": "revive", "from": "deleted", "to": "invited"})


def _bad_trigger(d):
    d["transitions"][0]["trigger"] = "anyone"


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (_drop_label, "states.invited.label", "missing"),
        (_no_initial, "states", "no initial state"),
        (_no_final, "states", "no final state"),
        (_unknown_target, "transitions[0].to", "unknown state 'nowhere'"),
        (_unknown_source, "transitions[0].from", "unknown state 'nowhere'"),
        (_unknown_guard, "transitions[2].guard", "unknown guard 'is_full_moon'"),
        (_unknown_action, "transitions[0].actions[0].launch_rocket", "unknown action"),
        (_unknown_mail, "transitions[0].actions[0].send_mail", "unknown mail 'birthday'"),
        (_timer_on_unknown_event, "timers[0].event", "unknown event 'explode'"),
        (_timer_bad_duration, "timers[0].after", "not a duration"),
        (_unreachable_state, "states.limbo", "unreachable"),
        (_typo_key, "transitions[0].too", "unknown key"),
        (_leave_final, "transitions[0].from", "final"),
        (_bad_trigger, "transitions[0].trigger", "must be one of admin, invitee, system"),
    ],
)
def test_broken_definitions_are_rejected_with_file_and_key(change, key, words):
    with pytest.raises(FlowDefinitionError) as error:
        parse(broken(change), source="flows/broken.yaml")
    message = str(error.value)
    assert message.startswith(f"flows/broken.yaml: {key}: "), message
    assert words in message


def test_invalid_yaml_names_the_file():
    with pytest.raises(FlowDefinitionError, match=r"^x.yaml: file: is not valid YAML"):
        parse("states: [unclosed", source="x.yaml")


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(FlowDefinitionError, match="missing.yaml: file: cannot be read"):
        load_file(tmp_path / "missing.yaml")


def test_internal_transition_must_stay_in_its_state():
    def change(d):
        d["transitions"][0]["internal"] = True

    with pytest.raises(FlowDefinitionError, match=r"transitions\[0\]\.internal"):
        parse(broken(change), source="f.yaml")
