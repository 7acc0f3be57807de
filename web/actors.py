"""Who acted, in words an admin understands (the history on a person's detail page).

The history stores technical actors ("account:12", "app", "system:timer", "cli:..."); an
account acting on someone else's invitation can only be an admin of the organisation."""

from __future__ import annotations
from core.i18n import lazy_gettext

INVITEE = lazy_gettext("durch die eingeladene Person")
ADMIN = lazy_gettext("durch eine Administratorin / einen Administrator")
APP = lazy_gettext("in der Zwei-Faktor-App")
TIMER = lazy_gettext("automatisch (Frist)")
ATTEMPT_LIMIT = lazy_gettext("automatisch (zu viele Fehlversuche)")
SYSTEM = lazy_gettext("automatisch")
OPERATIONS = lazy_gettext("durch den Betrieb des Portals")


def actor_label(actor: str, invitee_account_id: int | None) -> str:
    return str(_label(actor, invitee_account_id))


def _label(actor: str, invitee_account_id: int | None):
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
