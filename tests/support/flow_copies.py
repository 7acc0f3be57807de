"""Copies of the shipped flow file, changed as a product owner might change them."""

from __future__ import annotations

from pathlib import Path

import yaml

from workflows.registry import SHIPPED_FLOWS_DIR

SHIPPED = SHIPPED_FLOWS_DIR / "onboarding.yaml"


def shipped_data() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def dump(data: dict) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def renamed(data: dict, flow_name: str = "aufnahme") -> tuple[dict, dict[str, str]]:
    """Every state id and event id (and the flow's name) replaced by an opaque one;
    labels, roles and structure unchanged. Returns the copy and the map old id -> new id."""
    states = {old: f"zustand{i}" for i, old in enumerate(data["states"], 1)}
    events = {old: f"ereignis{i}" for i, old in enumerate(dict.fromkeys(t["event"] for t in data["transitions"]), 1)}

    def state_list(value):
        return [states[s] for s in value] if isinstance(value, list) else states[value]

    copy = dict(data, flow=flow_name)
    copy["states"] = {states[name]: spec for name, spec in data["states"].items()}
    copy["transitions"] = [
        dict(t, event=events[t["event"]], **{"from": state_list(t["from"]), "to": states[t["to"]]})
        for t in data["transitions"]
    ]
    copy["timers"] = [
        dict(
            t, event=events[t["event"]], start_in=state_list(t["start_in"]),
            **({"active_in": state_list(t["active_in"])} if "active_in" in t else {}),
        )
        for t in data.get("timers", [])
    ]
    return copy, {**states, **events}


def write(folder: Path, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{data['flow']}.yaml"
    path.write_text(dump(data), encoding="utf-8")
    return path


def shipped_text(version: int | None = None, expiry: str | None = None, drop: str | None = None) -> str:
    """The shipped file's text (comments kept), with another `version`, another `after`
    of the expiry timer, or without the line `drop` (e.g. "    role: activated")."""
    text = SHIPPED.read_text(encoding="utf-8")
    if version is not None:
        text = text.replace("\nversion: 2\n", f"\nversion: {version}\n", 1)
    if expiry is not None:
        text = text.replace("    purpose: expiry\n    after: 720h\n", f"    purpose: expiry\n    after: {expiry}\n", 1)
    if drop is not None:
        assert drop + "\n" in text, drop
        text = text.replace(drop + "\n", "", 1)
    return text
