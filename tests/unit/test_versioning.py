from __future__ import annotations

import pytest
import yaml

from workflows.definition import parse
from workflows.registry import SHIPPED_FLOWS_DIR
from workflows.versioning import MigrationRefused, parse_mapping, plan_state_mapping


def version_two(rename_locked_to: str | None = None):
    """The next version of the shipped flow."""
    data = yaml.safe_load((SHIPPED_FLOWS_DIR / "onboarding.yaml").read_text())
    data["version"] += 1
    if rename_locked_to:
        data["states"][rename_locked_to] = data["states"].pop("locked")
        for t in data["transitions"]:
            t["from"] = [rename_locked_to if s == "locked" else s for s in (t["from"] if isinstance(t["from"], list) else [t["from"]])]
            if t["to"] == "locked":
                t["to"] = rename_locked_to
    return parse(yaml.safe_dump(data, allow_unicode=True))


OLD = parse((SHIPPED_FLOWS_DIR / "onboarding.yaml").read_text())
V, NEXT = OLD.version, OLD.version + 1


def test_states_with_the_same_name_map_to_themselves():
    mapping = plan_state_mapping(OLD, version_two(), {})
    assert all(old == new for old, new in mapping.items())


def test_a_vanished_state_must_be_mapped():
    new = version_two(rename_locked_to="suspended")
    with pytest.raises(MigrationRefused, match=f"locked of version {V} have no place in version {NEXT}"):
        plan_state_mapping(OLD, new, {})
    assert plan_state_mapping(OLD, new, {"locked": "suspended"})["locked"] == "suspended"


def test_mapping_to_an_unknown_state_is_refused():
    with pytest.raises(MigrationRefused, match=f"version {NEXT} has no state"):
        plan_state_mapping(OLD, version_two(), {"locked": "nirvana"})


@pytest.mark.parametrize("pair", ["locked", "=x", "locked="])
def test_malformed_pairs_are_refused(pair):
    with pytest.raises(MigrationRefused, match="OLD_STATE=NEW_STATE"):
        parse_mapping([pair])
