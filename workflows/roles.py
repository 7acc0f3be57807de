"""The meanings the application relies on, declared once: a flow file gives them to its
states (`roles:`), events (`role:` on a transition) and timers (`purpose:`). The code
asks the definition for "the states where a person may log in" or "the event the app
sends after activation" and never names a state or event itself, so a product owner may
rename any id in the flow file. A flow file that lacks one of these fails to load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["state", "event", "timer"]


@dataclass(frozen=True)
class Role:
    name: str
    kind: Kind
    purpose: str  # what the application does with it, for error messages and the README


_ROLES = (
    # States: any number of states may share a role; at least one must have it.
    Role("profile_step", "state", "the registration shows the step 'Persönliche Daten'"),
    Role("device_step", "state", "the registration shows the device steps and the app accepts an activation code"),
    Role("registration_done", "state", "the registration shows its closing page 'Glückwunsch'"),
    Role("may_log_in", "state", "the person may log in"),
    Role("link_open", "state", "registration links in mails may be sent and used"),
    # Events: exactly one event has each.
    Role("invitation", "event", "starts an invitation (the admins' hourly invitation limit counts it)"),
    Role("invitation_again", "event", "offered when an address that is already invited is invited again"),
    Role("profile_saved", "event", "sent when the person saves the step 'Persönliche Daten'"),
    Role("activated", "event", "sent when the Zwei-Faktor-App is activated with a correct code"),
    Role("consent_given", "event", "sent when the person gives consent at the first login"),
    Role("code_lockout", "event", "sent after too many wrong activation codes"),
    Role("pin_lockout", "event", "sent after too many wrong PINs in the app"),
    Role("device_lost", "event", "sent by 'Gerät verloren' in the profile"),
    # Timers: exactly one timer has each purpose.
    Role("expiry", "timer", "the invitation runs out: its due time is shown in the Nutzerverwaltung and limits the links in mails; its duration is named in mails and help pages"),
)

ROLES: dict[str, Role] = {role.name: role for role in _ROLES}


def of_kind(kind: Kind) -> dict[str, Role]:
    return {name: role for name, role in ROLES.items() if role.kind == kind}


@dataclass(frozen=True)
class EventOf:
    """For FlowService.send: the event that has `role` in the instance's own flow version."""

    role: str
