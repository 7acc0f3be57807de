"""Named actions a flow file may use. An action only records an effect; the store
writes it in the transition's transaction (outbox rows, context changes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Mails the flow may ask for; each has a template (mail subject and body) in mail/templates/ (subjects in mail/texts.py).
MAIL_KINDS = frozenset(
    {
        "invitation",
        "reminder",
        "registration_status",  # "Status Ihrer Registrierung: Aktivierung Ihres Zugangs"
        "registration_summary",  # "Ihre Registrierung"
        "device_bound",
        "invitation_expired",
    }
)


# Effects the store knows how to persist, besides mails and context changes.
RECORD_EFFECTS = frozenset(
    {"end_links", "end_registration_sessions", "end_sessions", "anonymise_person", "reset_attempts", "revoke_devices"}
)


@dataclass
class Effects:
    """What running one event produced, besides the state change."""

    context: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    mails: list[str] = field(default_factory=list)
    records: set[str] = field(default_factory=set)


def send_mail(effects: Effects, kind: str) -> None:
    effects.mails.append(kind)


def set_flag(effects: Effects, name: str) -> None:
    effects.context[name] = True


def clear_flag(effects: Effects, name: str) -> None:
    effects.context.pop(name, None)


def end_links(effects: Effects, argument: None) -> None:
    """Every link sent so far stops working (resend, revoke, expiry, completion)."""
    effects.records.add("end_links")


def end_registration_sessions(effects: Effects, argument: None) -> None:
    """The registration sessions that links sent so far opened end at once, and so do the
    activation codes shown in them (INV-9: a leaked link's session cannot go on after a
    resend, a new registration link, an unlock or the expiry)."""
    effects.records.add("end_registration_sessions")


def end_sessions(effects: Effects, argument: None) -> None:
    """Every session of the person ends at once (lock, delete)."""
    effects.records.add("end_sessions")


def anonymise_person(effects: Effects, argument: None) -> None:
    """Personal data is removed; the history keeps only ids (GDPR). The person's app
    stops working too (PIN-5): a deleted person must not keep a usable second factor."""
    effects.records.update({"anonymise_person", "end_links", "end_sessions", "revoke_devices"})


def revoke_devices(effects: Effects, argument: None) -> None:
    """The person's registered apps stop working at once (lost device, PIN-5)."""
    effects.records.update({"revoke_devices", "end_sessions"})


def reset_attempts(effects: Effects, argument: None) -> None:
    """The registration's wrong-code counter starts again (an admin's unlock)."""
    effects.records.add("reset_attempts")


# A problem of an argument: a message id of workflows/definition_messages.py and its parameters.
Problem = tuple[str, dict[str, str]]


def _check_mail_kind(arg: object) -> Problem | None:
    if arg not in MAIL_KINDS:
        return "unknown_mail", {"value": repr(arg), "known": ", ".join(sorted(MAIL_KINDS))}
    return None


def _check_flag(arg: object) -> Problem | None:
    if not isinstance(arg, str) or not arg.isidentifier():
        return "bad_flag", {"value": repr(arg)}
    return None


def _no_argument(arg: object) -> Problem | None:
    return None if arg is None else ("no_argument", {})


@dataclass(frozen=True)
class ActionSpec:
    run: Callable[[Effects, Any], None]
    check_argument: Callable[[object], Problem | None]


ACTIONS: dict[str, ActionSpec] = {
    "send_mail": ActionSpec(send_mail, _check_mail_kind),
    "set_flag": ActionSpec(set_flag, _check_flag),
    "clear_flag": ActionSpec(clear_flag, _check_flag),
    "end_links": ActionSpec(end_links, _no_argument),
    "end_registration_sessions": ActionSpec(end_registration_sessions, _no_argument),
    "end_sessions": ActionSpec(end_sessions, _no_argument),
    "anonymise_person": ActionSpec(anonymise_person, _no_argument),
    "reset_attempts": ActionSpec(reset_attempts, _no_argument),
    "revoke_devices": ActionSpec(revoke_devices, _no_argument),
}
