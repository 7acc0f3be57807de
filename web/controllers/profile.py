"""The person's profile: data, device ("Gerät verloren"), consents, logout everywhere."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.response import Redirect
from litestar.status_codes import HTTP_409_CONFLICT

from db import consent, devices, sessions
from db.audit import audit_step
from db.people import latest_instance_of
from db.tables import Account
from web.auth import clear_session_cookie, client_ip, require_login
from web.documents import required_documents
from web.forms import read_form
from web.rendering import page
from workflows.engine import EventNotAllowed
from workflows.roles import EventOf
from workflows.service import TransitionConflict
from core.i18n import lazy_gettext


# A conflict means another change to the account committed in between (an admin, a
# timer, a second tab): load the new state and try again, a few times.
LOSE_DEVICE_ATTEMPTS = 3
DEVICE_ERRORS = {
    "conflict": lazy_gettext("Das Gerät konnte gerade nicht gesperrt werden, weil sich Ihr Zugang im selben Moment geändert hat. "
                "Bitte klicken Sie noch einmal auf „Gerät verloren“."),
    "not_allowed": lazy_gettext("Das Gerät kann in diesem Zustand Ihres Zugangs nicht hier gesperrt werden. Bitte wenden Sie sich "
                   "an den Admin Ihrer Organisation, damit das Gerät zurückgesetzt wird."),
}


@get("/profil", name="profile")
async def profile(request: Request) -> Response:
    # Login only, not consent: withdrawn consent must stay visible and renewable here.
    info = await require_login(request)
    return await _profile_page(request, info.account_id)


async def _profile_page(request: Request, account_id: int, device_error: str = "", status_code: int = 200) -> Response:
    db = request.app.state.db
    account = await db.fetch_one(Account.select().where(Account.id == account_id))
    records = await consent.history(db, account_id)
    documents = {d.key: d for d in required_documents()}
    return page("profile.html", {
        "account": account,
        "device": await devices.active_for_account(db, account_id),
        "records": records,
        "current": consent.current_consents(records),
        "documents": documents,
        "missing": {d.key for d in consent.missing(records, list(documents.values()))},
        "device_error": device_error,
    }, status_code=status_code)


@post("/profil/geraet-verloren", name="device_lost")
async def device_lost(request: Request) -> Response:
    """Revokes the device and ends every session at once; an admin enables a new one."""
    info = await require_login(request)
    if not (await read_form(request, ())).ok:
        return Redirect(request.app.route_reverse("profile"), status_code=303)
    service = request.app.state.service
    problem = "not_allowed"
    for _ in range(LOSE_DEVICE_ATTEMPTS):
        instance = await latest_instance_of(service.db, info.account_id)
        if instance is None:
            break
        try:
            await service.send(instance["id"], EventOf("device_lost"), actor=f"account:{info.account_id}", client_ip=client_ip(request))
        except TransitionConflict:
            problem = "conflict"
            continue
        except EventNotAllowed:
            problem = "not_allowed"
            break
        return _logged_out(request)
    # Not done by this request; fine if the device is gone anyway (lost in a second tab
    # at the same moment: that transition ended every session too).
    if await devices.active_for_account(service.db, info.account_id) is None:
        return _logged_out(request)
    # Nothing was written: the device still works and the session stays, so say so.
    return await _profile_page(request, info.account_id, DEVICE_ERRORS[problem], HTTP_409_CONFLICT)


def _logged_out(request: Request) -> Response:
    response = Redirect(request.app.route_reverse("home"), status_code=303)
    clear_session_cookie(response, request)
    return response


@post("/profil/ueberall-abmelden", name="logout_everywhere")
async def logout_everywhere(request: Request) -> Response:
    info = await require_login(request)
    if not (await read_form(request, ())).ok:
        return Redirect(request.app.route_reverse("profile"), status_code=303)
    db, now = request.app.state.db, request.app.state.clock.now()
    await sessions.end_all_for_account(db, info.account_id, now)
    await db.write([audit_step("logout_everywhere", now, actor=f"account:{info.account_id}",
                                organisation_id=info.organisation_id, client_ip=client_ip(request))])
    response = Redirect(request.app.route_reverse("home"), status_code=303)
    clear_session_cookie(response, request)
    return response
