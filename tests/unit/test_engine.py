"""The in-memory engine: allowed moves, guards, actions, timers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml

from workflows import actions as actions_module
from workflows.definition import parse
from workflows.engine import EventNotAllowed, Flow
from workflows.registry import SHIPPED_FLOWS_DIR, FlowRegistry

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PROFILE = {"first_name": "Bernhard", "last_name": "Tester"}


@pytest.fixture(scope="module")
def flow() -> Flow:
    return FlowRegistry.from_directory().current("onboarding")


def test_invite_sends_the_invitation_and_starts_the_720_hour_expiry(flow):
    outcome = flow.run("new", "invite", NOW)
    assert outcome.target == "invited"
    assert outcome.mails == ["invitation"]
    timers = dict(outcome.timers_to_start)
    assert timers["expire"] == NOW + timedelta(hours=720)
    assert timers["remind_inactive"] == NOW + timedelta(hours=72)


def test_disallowed_event_raises(flow):
    with pytest.raises(EventNotAllowed):
        flow.run("new", "activate_device", NOW)
    with pytest.raises(EventNotAllowed):
        flow.run("invited", "no_such_event", NOW)


def test_a_failed_guard_raises_instead_of_being_ignored(flow):
    with pytest.raises(EventNotAllowed):
        flow.run("invited", "complete_profile", NOW, data={"first_name": "", "last_name": "Tester"})
    assert flow.run("invited", "complete_profile", NOW, data=PROFILE).target == "in_progress"


def test_progress_keeps_the_expiry_but_drops_the_inactivity_reminder(flow):
    outcome = flow.run("invited", "complete_profile", NOW, data=PROFILE)
    assert "expire" not in outcome.timers_to_cancel
    assert "remind_inactive" in outcome.timers_to_cancel
    assert [event for event, _ in outcome.timers_to_start] == ["remind_device"]


def test_resend_restarts_the_expiry(flow):
    outcome = flow.run("invited", "resend", NOW)
    assert "expire" in outcome.timers_to_cancel
    assert dict(outcome.timers_to_start)["expire"] == NOW + timedelta(hours=720)
    assert outcome.mails == ["invitation"]


def test_internal_reminder_changes_no_timer(flow):
    outcome = flow.run("invited", "remind_inactive", NOW)
    assert outcome.internal and outcome.target == "invited"
    assert outcome.mails == ["reminder"]
    assert not outcome.timers_to_cancel and not outcome.timers_to_start


def test_final_state_cancels_every_timer(flow):
    outcome = flow.run("invited", "delete", NOW)
    assert outcome.timers_to_cancel == {t.event for t in flow.definition.timers}
    assert outcome.timers_to_start == []


def test_unlock_goes_back_to_the_device_step_only_without_a_device(flow):
    assert flow.run("locked", "unlock", NOW, context={}).target == "in_progress"
    assert flow.run("locked", "unlock", NOW, context={"device_bound": True}).target == "registered"


def test_actions_change_a_copy_of_the_context(flow):
    context = {"device_bound": False}
    outcome = flow.run("in_progress", "activate_device", NOW, context=context)
    assert outcome.context == {"device_bound": True}
    assert context == {"device_bound": False}


def test_an_exception_in_an_action_propagates(monkeypatch):
    def explode(effects, argument):
        raise RuntimeError("action failed")

    monkeypatch.setitem(actions_module.ACTIONS, "set_flag", actions_module.ActionSpec(explode, lambda a: None))
    flow = Flow(parse((SHIPPED_FLOWS_DIR / "onboarding.yaml").read_text(), source="t.yaml"))
    with pytest.raises(RuntimeError, match="action failed"):
        flow.run("in_progress", "activate_device", NOW)
    # The machine is usable afterwards.
    assert flow.run("invited", "revoke", NOW).target == "revoked"


def test_reused_machine_survives_final_states_and_errors(flow):
    assert flow.run("invited", "delete", NOW).target == "deleted"
    with pytest.raises(EventNotAllowed):
        flow.run("deleted", "resend", NOW)
    assert flow.run("expired", "resend", NOW).target == "invited"


def test_events_in_a_state_come_from_the_definition(flow):
    assert flow.events_in("invited") == [
        "resend", "complete_profile", "expire", "revoke", "delete", "remind_inactive", "remind_expiring"
    ]
    assert flow.events_in("deleted") == []


def test_admin_moves_come_from_the_definitions_triggers(flow):
    assert [t.event for t in flow.transitions_for("invited", "admin")] == ["resend", "revoke", "delete"]
    assert [t.event for t in flow.transitions_for("locked", "admin")] == ["unlock", "revoke_device", "delete"]
    assert flow.transitions_for("deleted", "admin") == []
    revoke = flow.transitions_for("invited", "admin")[1]
    assert revoke.confirm and revoke.label == "Einladung widerrufen"


def test_record_effects_are_collected(flow):
    assert flow.run("invited", "resend", NOW).records == {"end_links", "end_registration_sessions"}
    assert flow.run("active", "delete", NOW).records == {"anonymise_person", "end_links", "end_sessions", "revoke_devices"}


def test_a_shorter_expiry_in_the_file_changes_the_timer():
    text = (SHIPPED_FLOWS_DIR / "onboarding.yaml").read_text()
    data = yaml.safe_load(text)
    data["timers"][0]["after"] = "336h"
    flow = Flow(parse(yaml.safe_dump(data, allow_unicode=True)))
    assert dict(flow.run("new", "invite", NOW).timers_to_start)["expire"] == NOW + timedelta(hours=336)
