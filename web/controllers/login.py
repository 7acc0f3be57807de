"""Login with the second factor for everyone, admins included (PIN-3, TR3 O.Auth_4):
the username starts a request that the person approves in the Zwei-Faktor-App."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_422_UNPROCESSABLE_ENTITY

from db import challenges
from db.audit import audit_step
from db.people import latest_instance_of
from db.tables import Account
from web import known_browser
from web.auth import client_ip, current_session, end_session, start_session
from web.browsers import describe
from web.forms import read_form
from web.rendering import client_redirect, page, wants_fragment
from workflows.login_approval import finish_login, format_number, start_login
from workflows.twofactor import Limits, may_log_in
from web.return_path import forget_return_path, remember_return_path, return_target
from core.i18n import _

LOGIN_COOKIE = "pp_login"


@get("/anmelden", name="login")
async def login_page(request: Request) -> Response:
    return page("login.html", {"values": {"username": ""}, "errors": {}})


@post("/anmelden", name="login_start")
async def login_start(request: Request) -> Response:
    form = await read_form(request, ("username",))
    username = form.values["username"]
    if not form.ok or not username:
        errors = form.errors or {"username": _("Bitte geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein.")}
        return page("login.html", {"values": form.values, "errors": errors}, status_code=HTTP_422_UNPROCESSABLE_ENTITY)
    settings = request.app.state.settings
    started = await start_login(
        request.app.state.service, username, client_ip(request), describe(request.headers.get("user-agent")),
        known_browser.known_accounts(request), Limits.from_settings(settings),
    )
    response = Redirect(request.app.route_reverse("login_wait", public_id=started.public_id), status_code=303)
    response.set_cookie(
        LOGIN_COOKIE, started.browser_token, httponly=True, samesite="lax", secure=not settings.is_development,
        path="/anmelden", max_age=settings.login_request_seconds + 60,
    )
    remember_return_path(request, response)
    return response


async def _own_challenge(request: Request, public_id: str) -> dict | None:
    """The challenge, only for the browser that started it."""
    token = request.cookies.get(LOGIN_COOKIE)
    challenge = await challenges.by_public_id(request.app.state.db, public_id)
    if challenge is None or not token or challenges.token_hash(token) != challenge["browser_token_hash"]:
        return None
    return challenge


@get("/anmelden/warten/{public_id:str}", name="login_wait")
async def login_wait(request: Request, public_id: FromPath[str]) -> Response:
    challenge = await _own_challenge(request, public_id)
    if challenge is None or challenge["expires_at"] <= request.app.state.clock.now():
        return page("login_ended.html", {"reason": "timed_out"}, status_code=HTTP_409_CONFLICT)
    return _waiting(challenge, "")


def _waiting(challenge: dict, message: str) -> Response:
    return page("login_wait.html", {"challenge": challenge, "number": format_number(challenge["number"]), "message": message})


@post("/anmelden/weiter/{public_id:str}", name="login_finish")
async def login_finish(request: HTMXRequest, public_id: FromPath[str]) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or ""
    service = request.app.state.service
    account_id = await finish_login(service, public_id, token) if token else None
    if account_id is None and token:
        challenge = await _own_challenge(request, public_id)
        if challenge is not None and challenge["status"] == "approved":
            # The approval committed after the consume step above: consume it now, rather
            # than reading "approved" as "not completed".
            account_id = await finish_login(service, public_id, token)
    if account_id is not None:
        if await _may_log_in(request, account_id):
            return await _logged_in(request, account_id)
        return _ended(request, "blocked")
    finished = await challenges.by_public_id(request.app.state.db, public_id)
    if finished is not None and finished["status"] == "used" and await _already_logged_in(request, finished):
        # A second poll that crossed the one that finished the login: same outcome.
        return _to_home(request)
    challenge = await _own_challenge(request, public_id)
    if challenge is not None and challenge["status"] == "pending" and challenge["expires_at"] > service.clock.now():
        if wants_fragment(request):
            return Response("", status_code=204)
        return _waiting(challenge, _("Die Anmeldung ist noch nicht bestätigt."))
    status = challenge["status"] if challenge is not None else ""
    return _ended(request, ENDED_REASONS.get(status, "timed_out"))


# Why a request ended, as the browser that started it may learn it.
ENDED_REASONS = {"denied": "denied", "not_me": "denied", "wrong_number": "number"}


def _to_home(request: HTMXRequest) -> Response:
    target = request.app.route_reverse("home")
    return client_redirect(target) if wants_fragment(request) else Redirect(target, status_code=303)


def _ended(request: HTMXRequest, reason: str) -> Response:
    if wants_fragment(request):
        return client_redirect(request.app.route_reverse("login_ended", reason=reason))
    return page("login_ended.html", {"reason": reason}, status_code=HTTP_409_CONFLICT)


async def _logged_in(request: HTMXRequest, account_id: int) -> Response:
    db, now = request.app.state.db, request.app.state.clock.now()
    account = await db.fetch_one(Account.select(Account.organisation).where(Account.id == account_id))
    target = return_target(request)
    response = client_redirect(target) if wants_fragment(request) else Redirect(target, status_code=303)
    await start_session(request, response, "login", account_id, account["organisation"])
    response.delete_cookie(LOGIN_COOKIE, path="/anmelden")
    forget_return_path(response)
    known_browser.remember(request, response, account_id)
    await db.write([audit_step(
        "login", now, actor=f"account:{account_id}", organisation_id=account["organisation"], client_ip=client_ip(request))])
    return response


@get("/anmelden/beendet/{reason:str}", name="login_ended")
async def login_ended(request: Request, reason: FromPath[str]) -> Response:
    reason = reason if reason in ("denied", "timed_out", "blocked", "number") else "timed_out"
    return page("login_ended.html", {"reason": reason}, status_code=HTTP_409_CONFLICT)


async def _already_logged_in(request: Request, challenge: dict) -> bool:
    info = await current_session(request)
    return info is not None and info.kind == "login" and info.account_id == challenge["account"]


async def _may_log_in(request: Request, account_id: int) -> bool:
    """Locked, revoked or deleted people cannot log in, even with an approved request."""
    return may_log_in(request.app.state.registry, await latest_instance_of(request.app.state.db, account_id))


@post("/abmelden", name="logout")
async def logout(request: Request) -> Response:
    info = await current_session(request)
    response = Redirect(request.app.route_reverse("home"), status_code=303)
    await end_session(request, response)
    if info is not None:
        await request.app.state.db.write([audit_step(
            "logout", request.app.state.clock.now(), actor=f"account:{info.account_id}",
            organisation_id=info.organisation_id, client_ip=client_ip(request))])
    return response


@post("/sitzung/verlaengern", name="session_extend")
async def extend_session(request: HTMXRequest) -> Response:
    """One click keeps the session (WCAG 2.2.1); loading the session already renews it."""
    info = await current_session(request)
    if info is None:
        return Redirect(request.app.route_reverse("login"), status_code=303)
    from db.sessions import touch_step

    await request.app.state.db.write([touch_step(info.id, request.app.state.clock.now())])
    if wants_fragment(request):
        return Response("", status_code=204)
    return Redirect(request.app.route_reverse("home"), status_code=303)


