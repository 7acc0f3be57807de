"""The link from the invitation mail (INV-3, INV-6, INV-8).

GET only shows a page (mail scanners open links); its button POSTs, which starts a
fresh registration session and redirects to a URL without the token. Unknown,
expired, used and revoked links all get the same page and status."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_404_NOT_FOUND

from db import links
from db.audit import audit_step
from web.auth import client_ip, start_session
from web.rendering import page


async def _valid_link(request: Request, signed: str) -> links.ValidLink | None:
    token = request.app.state.signer.unsign("invitation-link", signed)
    if token is None:
        return None
    open_states = request.app.state.registry.onboarding_states_with("link_open")
    return await links.find_valid(request.app.state.db, token, request.app.state.clock.now(), open_states)


def _neutral_page() -> Response:
    return page("invitation_invalid.html", {}, status_code=HTTP_404_NOT_FOUND)


@get("/einladung/{signed:str}", name="invitation")
async def invitation(request: Request, signed: FromPath[str]) -> Response:
    link = await _valid_link(request, signed)
    if link is None:
        return _neutral_page()
    return page("invitation.html", {"signed": signed})


@post("/einladung/{signed:str}", name="invitation_start")
async def start_registration(request: Request, signed: FromPath[str]) -> Response:
    link = await _valid_link(request, signed)
    if link is None:
        return _neutral_page()
    response = Redirect(request.app.route_reverse("registration"), status_code=303)
    # The session ends when the link's validity ends (INV-2), whether or not the expiry
    # timer has fired by then; every request checks the session's end in the database.
    await start_session(
        request, response, "registration", link.account_id, link.organisation_id, link.instance_id,
        not_after=link.expires_at,
    )
    await request.app.state.db.write([
        audit_step("invitation_link_used", request.app.state.clock.now(), actor=f"account:{link.account_id}",
                   organisation_id=link.organisation_id, instance_id=link.instance_id, client_ip=client_ip(request))
    ])
    return response
