"""Who is asking: the session behind the request's cookie, loaded from the database."""

from __future__ import annotations

from datetime import datetime, timedelta

from litestar import Request, Response
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from db import consent, sessions
from db.sessions import SessionInfo
from web.documents import required_documents

SESSION_COOKIE = "pp_session"
# In production the browser itself guarantees what the prefix promises (SES-5): set only
# over HTTPS, with Secure and Path=/ and without Domain, so neither a sibling subdomain
# nor a plain-HTTP response can plant or overwrite it (cookie tossing, session fixation).
HOST_PREFIX = "__Host-"


def session_cookie_name(settings) -> str:
    return SESSION_COOKIE if settings.is_development else HOST_PREFIX + SESSION_COOKIE


def csrf_cookie_name(settings) -> str:
    return "csrftoken" if settings.is_development else HOST_PREFIX + "csrftoken"


async def current_session(request: Request) -> SessionInfo | None:
    cached = request.scope.get("state", {}).get("session_info", ...)
    if cached is not ...:
        return cached
    token = request.cookies.get(session_cookie_name(request.app.state.settings))
    info = None
    if token:
        settings = request.app.state.settings
        info = await sessions.load(
            request.app.state.db, token, request.app.state.clock.now(),
            timedelta(minutes=settings.session_idle_minutes),
        )
    request.scope.setdefault("state", {})["session_info"] = info
    return info


async def require_login(request: Request) -> SessionInfo:
    info = await current_session(request)
    if info is None or info.kind != "login":
        raise NotAuthorizedException("login required")
    return info


async def require_admin(request: Request) -> SessionInfo:
    info = await require_member(request)
    if not info.is_admin:
        raise PermissionDeniedException("admins only")
    return info


async def require_product_owner(request: Request) -> SessionInfo:
    info = await require_member(request)
    if not info.is_product_owner:
        raise PermissionDeniedException("product owners only")
    return info


def set_session_cookie(response: Response, token: str, request: Request) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        session_cookie_name(settings), token, httponly=True, samesite="lax", secure=not settings.is_development, path="/",
        max_age=settings.session_absolute_hours * 3600,
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    """Litestar's delete_cookie sends no Secure attribute, and browsers ignore a
    `__Host-` cookie set without it: delete with the same attributes as set."""
    settings = request.app.state.settings
    response.set_cookie(
        session_cookie_name(settings), "", httponly=True, samesite="lax", secure=not settings.is_development, path="/",
        max_age=0, expires=0,
    )


def actor_of(info: SessionInfo) -> str:
    """How a person appears in the audit trail: an id, never a name or address."""
    return f"account:{info.account_id}"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def start_session(
    request: Request, response: Response, kind: str, account_id: int, organisation_id: int, instance_id: int | None = None,
    not_after: datetime | None = None,
) -> None:
    """A fresh session id (SES-1): the old session, if any, ends in the same transaction.
    `not_after`: the session ends then at the latest (a registration session with its link)."""
    settings = request.app.state.settings
    token = await sessions.create(
        request.app.state.db, kind, account_id, organisation_id, request.app.state.clock.now(),
        timedelta(hours=settings.session_absolute_hours), instance_id=instance_id,
        end_token=request.cookies.get(session_cookie_name(settings)), required=required_documents(),
        not_after=not_after,
    )
    set_session_cookie(response, token, request)


async def end_session(request: Request, response: Response) -> None:
    token = request.cookies.get(session_cookie_name(request.app.state.settings))
    if token:
        await request.app.state.db.write([sessions.end_step(token, request.app.state.clock.now())])
    clear_session_cookie(response, request)


class ConsentRequired(Exception):
    """The person must (again) accept the privacy policy and terms before anything else."""


async def require_member(request: Request) -> SessionInfo:
    """A logged-in person who has accepted the current privacy policy and terms.

    The session row carries the documents its person accepted (stamped whenever the
    consent records change, PRIV-3), so this costs no query of its own. A stamp that does
    not match the current documents (a new version, a withdrawal, a session from before
    stamps) is computed once more from the records before the person is asked."""
    info = await require_login(request)
    state = request.scope.setdefault("state", {})
    accepted = state.get("consent_ok")
    if accepted is None:
        required = required_documents()
        expected = consent.stamp(required)
        accepted = info.accepted_documents == expected or (
            await sessions.restamp(request.app.state.db, info.id, info.account_id, required) == expected
        )
        state["consent_ok"] = accepted
    if not accepted:
        raise ConsentRequired()
    return info
