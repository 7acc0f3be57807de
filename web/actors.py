"""Who acted, in words an admin understands (the history on a person's detail page).

The history stores technical actors ("account:12", "app", "system:timer", "cli:..."); an
account acting on someone else's invitation can only be an admin of the organisation."""

from __future__ import annotations

INVITEE = "durch die eingeladene Person"
ADMIN = "durch eine Administratorin / einen Administrator"
APP = "in der Zwei-Faktor-App"
TIMER = "automatisch (Frist)"
ATTEMPT_LIMIT = "automatisch (zu viele Fehlversuche)"
SYSTEM = "automatisch"
OPERATIONS = "durch den Betrieb des Portals"


def actor_label(actor: str, invitee_account_id: int | None) -> str:
    if actor.startswith("account:"):
        return INVITEE if actor == f"account:{invitee_account_id}" else ADMIN
    if actor == "app":
        return APP
    if actor == "system:timer":
        return TIMER
    if actor == "system:attempt-limit":
        return ATTEMPT_LIMIT
    if actor.startswith("system"):
        return SYSTEM
    # Command line (admin create, flows migrate) and anything else from outside the web.
    return OPERATIONS
