"""The language switch on every page: `/sprache/en?zurueck=/hilfe` remembers the choice
in the `pp_lang` cookie and, for a person with a session, in their profile (so mails
and the next login follow it), then goes back to the page. Only a path of this portal
is a way back (an open redirect is refused: the start page instead)."""

from __future__ import annotations

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from db import accounts
from web.auth import current_session
from web.i18n import COOKIE_MAX_AGE, LANGUAGE_COOKIE
from web.return_path import safe_return_path

SWITCH_PATH = "/sprache"
# The switch itself (a loop) and the app's JSON API are no way back; the login page is.
_NO_WAY_BACK = (SWITCH_PATH + "/", "/api/", "/abmelden")


@get(f"{SWITCH_PATH}/{{code:str}}", name="language_switch")
async def switch_language(request: Request, code: FromPath[str], zurueck: FromQuery[str | None] = None) -> Redirect:
    settings = request.app.state.settings
    if code not in settings.language_list():
        raise NotFoundException()
    target = safe_return_path(zurueck, refused=_NO_WAY_BACK) or request.app.route_reverse("home")
    info = await current_session(request)
    if info is not None:
        await request.app.state.db.write([accounts.set_language_step(info.account_id, code)])
    response = Redirect(target, status_code=HTTP_303_SEE_OTHER)
    response.set_cookie(
        LANGUAGE_COOKIE, code, max_age=COOKIE_MAX_AGE, path="/", httponly=True, samesite="lax",
        secure=not settings.is_development,
    )
    return response
