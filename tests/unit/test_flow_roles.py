"""Roles in the flow file (workflows/roles.py) and automatic transitions: the code asks
the definition, so a copy with every id renamed still works, and a copy that lacks a
role the code needs is refused by name."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from partnerportal.cli import main
from tests.support.flow_copies import dump, renamed, shipped_data
from workflows.definition import FlowDefinitionError, parse
from workflows.engine import Flow
from workflows.registry import FlowRegistry
from workflows.roles import ROLES

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def without_role(data: dict, role: str) -> dict:
    data = copy.deepcopy(data)
    for state in data["states"].values():
        if role in state.get("roles", []):
            state["roles"].remove(role)
    for t in data["transitions"]:
        if t.get("role") == role:
            del t["role"]
    for timer in data.get("timers", []):
        if timer.get("purpose") == role:
            del timer["purpose"]
    return data


def labels(definition, states) -> set[str]:
    return {definition.states[s].label for s in states}


def test_the_shipped_flow_gives_every_role_the_application_needs():
    definition = parse(dump(shipped_data()))
    assert labels(definition, definition.states_with("may_log_in")) == {"Erfolgreich abgeschlossen", "Einwilligung erteilt", "Aktiv"}
    assert labels(definition, definition.states_with("link_open")) == {"Eingeladen", "beantragt"}
    assert definition.timer_for("expiry").after.total_seconds() == 720 * 3600
    for role in ROLES.values():
        if role.kind == "event":
            assert definition.event_for(role.name) in definition.events


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_copy_without_a_role_is_refused_naming_the_role_and_its_use(role):
    with pytest.raises(FlowDefinitionError) as refused:
        parse(dump(without_role(shipped_data(), role)), source="kopie.yaml")
    message = str(refused.value)
    assert message.startswith("kopie.yaml: ")
    assert repr(role) in message and ROLES[role].purpose in message


def test_flows_check_names_a_missing_role_and_passes_a_renamed_copy(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # reading the settings in development may write var/ here
    dropped = tmp_path / "ohne.yaml"
    dropped.write_text(dump(without_role(shipped_data(), "may_log_in")), encoding="utf-8")
    assert main(["flows", "check", str(dropped)]) == 1
    error = capsys.readouterr().err
    assert "ohne.yaml" in error and "'may_log_in'" in error and ROLES["may_log_in"].purpose in error

    copy_path = tmp_path / "umbenannt.yaml"
    copy_path.write_text(dump(renamed(shipped_data())[0]), encoding="utf-8")
    assert main(["flows", "check", str(copy_path)]) == 0
    assert "ok: " in capsys.readouterr().out


def test_a_renamed_copy_keeps_every_role_on_the_renamed_ids():
    shipped = parse(dump(shipped_data()))
    data, ids = renamed(shipped_data())
    copy_ = parse(dump(data))
    assert not set(ids) & (set(copy_.states) | set(copy_.events))
    for role in ROLES.values():
        if role.kind == "state":
            assert copy_.states_with(role.name) == {ids[s] for s in shipped.states_with(role.name)}
        elif role.kind == "event":
            assert copy_.event_for(role.name) == ids[shipped.event_for(role.name)]
        else:
            assert copy_.timer_for(role.name).event == ids[shipped.timer_for(role.name).event]


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (lambda d: d["states"]["invited"]["roles"].append("may_login"), "states.invited.roles", "unknown state role 'may_login'"),
        (lambda d: d["transitions"][0].update(role="expiry"), "transitions[0].role", "unknown event role 'expiry'"),
        (lambda d: d["timers"][1].update(purpose="expiry"), "timers[1].purpose", "already has the purpose 'expiry'"),
        (lambda d: d["transitions"][1].update(role="invitation"), "transitions[1].role", "already belongs to the event 'invite'"),
    ],
)
def test_roles_are_checked_by_key(change, key, message):
    data = shipped_data()
    change(data)
    with pytest.raises(FlowDefinitionError) as refused:
        parse(dump(data))
    assert refused.value.key == key and message in refused.value.message


def _transition(data: dict, event: str) -> dict:
    return next(t for t in data["transitions"] if t["event"] == event)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: _transition(d, "done").update(trigger="admin"), "sent by the system"),
        (lambda d: _transition(d, "done").update(auto="yes"), "must be true or false"),
        (lambda d: _transition(d, "remind_device").update(auto=True), "sent by the system"),
        (lambda d: _transition(d, "resend").update(auto=True, trigger="system"), "must lead to another state"),
        (lambda d: d["transitions"].append({"event": "back", "from": "active", "to": "consented", "auto": True}), "back to it"),
        (lambda d: d["transitions"].append({"event": "done", "from": "locked", "to": "active"}), "is automatic elsewhere"),
        (lambda d: d["transitions"].append({"event": "shortcut", "from": "consented", "to": "locked", "auto": True}),
         "already has the automatic event 'done'"),
    ],
)
def test_automatic_transitions_are_checked(change, message):
    data = shipped_data()
    change(data)
    with pytest.raises(FlowDefinitionError) as refused:
        parse(dump(data))
    assert message in refused.value.message


def test_an_automatic_transition_follows_its_event_at_once():
    flow = Flow(parse(dump(shipped_data())))
    consent = flow.event_for("consent_given")
    first, then = flow.run_through("registered", consent, NOW)
    assert (first.event, first.source, first.target) == (consent, "registered", "consented")
    assert (then.event, then.source, then.target) == ("done", "consented", "active")
    # Other events are not followed by anything.
    assert len(flow.run_through("invited", "revoke", NOW)) == 1


def test_an_automatic_transition_whose_guard_says_no_leaves_the_instance_where_it_is():
    data = shipped_data()
    _transition(data, "done")["guard"] = "device_missing"  # the device is bound at that point: no
    flow = Flow(parse(dump(data)))
    (only,) = flow.run_through("registered", "consent", NOW, context={"device_bound": True})
    assert only.target == "consented"


def test_a_version_stored_before_roles_borrows_them_by_id():
    """Instances that started on a version without roles keep working (their login,
    links and the step after the consent) after the update."""
    old = shipped_data()
    old["version"] = 1
    for state in old["states"].values():
        state.pop("roles", None)
    for t in old["transitions"]:
        t.pop("role", None)
        t.pop("auto", None)
    for timer in old["timers"]:
        timer.pop("purpose", None)
    with pytest.raises(FlowDefinitionError, match="has the role"):
        parse(dump(old))  # as a file it would be refused
    registry = FlowRegistry.from_directory()
    stored = registry.add_snapshot("onboarding", 1, dump(old))
    current = registry.onboarding()
    assert stored.version == 1 and current.version > 1
    assert stored.states_with("may_log_in") == current.states_with("may_log_in")
    assert stored.event_for("activated") == current.event_for("activated")
    assert [o.target for o in stored.run_through("registered", "consent", NOW)] == ["consented", "active"]


def test_the_onboarding_flow_is_the_one_the_setting_names(tmp_path):
    data, _ = renamed(shipped_data(), flow_name="aufnahme")
    (tmp_path / "aufnahme.yaml").write_text(dump(data), encoding="utf-8")
    (tmp_path / "onboarding.yaml").write_text(dump(shipped_data()), encoding="utf-8")
    assert FlowRegistry.from_directory(tmp_path, "aufnahme").onboarding().name == "aufnahme"
    assert FlowRegistry.from_directory(tmp_path, "onboarding").onboarding().name == "onboarding"
    with pytest.raises(LookupError, match="PARTNERPORTAL_ONBOARDING_FLOW"):
        FlowRegistry.from_directory(tmp_path, "fehlt")
    with pytest.raises(LookupError, match="PARTNERPORTAL_ONBOARDING_FLOW"):
        FlowRegistry.from_directory(tmp_path)  # two flows: the setting must choose


def test_code_that_asks_for_an_unknown_role_fails_loudly():
    definition = parse(dump(shipped_data()))
    with pytest.raises(ValueError, match="'may_login' is not one of the state roles"):
        definition.has_role("invited", "may_login")
    with pytest.raises(ValueError, match="'may_log_in' is not one of the event roles"):
        definition.event_for("may_log_in")


def test_flows_check_refuses_a_folder_without_the_onboarding_flow_the_setting_names(tmp_path, monkeypatch, capsys):
    data, _ = renamed(shipped_data(), flow_name="aufnahme")
    (tmp_path / "aufnahme.yaml").write_text(dump(data), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # reading the settings in development may write var/ here
    monkeypatch.setenv("PARTNERPORTAL_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("PARTNERPORTAL_FLOWS_DIR", str(tmp_path))
    monkeypatch.setenv("PARTNERPORTAL_ONBOARDING_FLOW", "onboarding")
    assert main(["flows", "check"]) == 1
    assert "PARTNERPORTAL_ONBOARDING_FLOW" in capsys.readouterr().err
    monkeypatch.setenv("PARTNERPORTAL_ONBOARDING_FLOW", "aufnahme")
    assert main(["flows", "check"]) == 0
