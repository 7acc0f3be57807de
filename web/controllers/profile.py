"""The person's profile: data, device ("Gerät verloren"), consents, logout everywhere."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.response import Redirect

from db import consent, devices, sessions
from db.audit import audit_step
from db.people import latest_instance_of
from db.tables import Account
from web.auth import clear_session_cookie, client_ip, require_login
from web.documents import required_documents
from web.forms import read_form
from web.rendering import page
from workflows.engine import EventNotAllowed
from workflows.service import TransitionConflict


@get("/profil", name="profile")
async def profile(request: Request) -> Response:
    # Login only, not consent: withdrawn consent must stay visible and renewable here.
    info = await require_login(request)
    db = request.app.state.db
    account = await db.fetch_one(Account.select().where(Account.id == info.account_id))
    records = await consent.history(db, info.account_id)
    documents = {d.key: d for d in required_documents()}
    return page("profile.html", {
        "account": account,
        "device": await devices.active_for_account(db, info.account_id),
        "records": records,
        "current": consent.current_consents(records),
        "documents": documents,
        "missing": {d.key for d in consent.missing(records, list(documents.values()))},
    })


@post("/profil/geraet-verloren", name="device_lost")
async def device_lost(request: Request) -> Response:
    """Revokes the device and ends every session at once; an admin enables a new one."""
    info = await require_login(request)
    if not (await read_form(request, ())).ok:
        return Redirect(request.app.route_reverse("profile"), status_code=303)
    service = request.app.state.service
    instance = await latest_instance_of(service.db, info.account_id)
    if instance is not None:
        try:
            await service.send(instance["id"], "lose_device", actor=f"account:{info.account_id}", client_ip=client_ip(request))
        except (EventNotAllowed, TransitionConflict):
            pass
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
