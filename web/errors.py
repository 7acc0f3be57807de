"""Error pages (and JSON error details) in the request's language; never a stack trace (LOG-3). A database outage is a 503 (REL-6)."""

from __future__ import annotations

import logging

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.plugins.htmx import ClientRefresh, HTMXRequest
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from db.outage import DatabaseUnavailable, is_outage
from web.auth import ConsentRequired
from web.rendering import client_redirect, page
from web.return_path import login_url, requested_path
from web.request_log import request_id_of
from web.texts import text
from workflows import publication
from workflows.registry import UnloadedVersion
from workflows.service import TransitionConflict

log = logging.getLogger(__name__)


# A missing login or a missing right is not an "error" to the person who meets it.
HEADINGS = {401: "error.heading.login", 403: "error.heading.forbidden", 404: "error.heading.not_found"}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", "text/html")


def _page(request: Request, status: int, message_key: str, heading_key: str | None = None) -> Response:
    request_id = request_id_of(request.scope)
    if _wants_json(request):
        body = {"status": status, "detail": text(message_key), "request_id": request_id}
        return Response(body, status_code=status, media_type=MediaType.JSON)
    heading = text(heading_key or HEADINGS.get(status, "error.title"))
    # message_key: the Leichte Sprache error page words each kind of error its own way.
    context = {"message": text(message_key), "message_key": message_key, "heading": heading, "request_id": request_id}
    return page("error.html", context, status_code=status)


def _login_page(request: Request) -> Response:
    """The login form itself, leading back to the page asked for (a GET) after the login."""
    context = {"login_url": login_url(request, requested_path(request)), "message": text("error.login_required")}
    return Template("login_required.html", context=context, status_code=HTTP_401_UNAUTHORIZED)


def http_error(request: HTMXRequest, exc: HTTPException) -> Response:
    status = exc.status_code
    if status in (401, 403) and request.htmx:
        # htmx would swap nothing for these; reloading shows the full page (login, error).
        # htmx acts on HX-Refresh whatever the status, so the status stays the true one.
        response = ClientRefresh()
        response.status_code = status
        return response
    if status == HTTP_403_FORBIDDEN and "csrf" in str(exc.detail).lower():
        return _page(request, status, "error.csrf", "error.heading.csrf")
    if status == HTTP_401_UNAUTHORIZED and not _wants_json(request):
        return _login_page(request)
    key = {404: "error.not_found", 403: "error.forbidden", 401: "error.login_required", 405: "error.method",
           413: "error.too_large"}.get(status)
    if key is None:
        key = "error.internal" if status >= 500 else "error.bad_request"
    return _page(request, status, key)


def database_down(request: Request, exc: Exception) -> Response:
    log.warning("Database unavailable: %s", type(exc).__name__)
    response = _page(request, HTTP_503_SERVICE_UNAVAILABLE, "error.unavailable")
    response.headers["Retry-After"] = "30"
    return response


def conflict(request: Request, exc: TransitionConflict) -> Response:
    return _page(request, HTTP_409_CONFLICT, "error.conflict")


async def load_published_versions(exc: Exception, scope) -> None:
    """An instance of a version another process published a moment ago, met before this
    process's next refresh: load it now (before the 503 below is sent), so the next
    request finds it. An after-exception hook, because exception handlers are synchronous."""
    if isinstance(exc, UnloadedVersion):
        app = scope["litestar_app"]
        await publication.refresh(app.state.db, app.state.registry)


def flow_version_loading(request: Request, exc: UnloadedVersion) -> Response:
    response = _page(request, HTTP_503_SERVICE_UNAVAILABLE, "error.flow_updated")
    response.headers["Retry-After"] = "1"
    return response


def consent_required(request: HTMXRequest, exc: Exception) -> Response:
    target = request.app.route_reverse("consent_form")
    if request.htmx:
        return client_redirect(target)
    return Redirect(target, status_code=303)


def internal_error(request: Request, exc: Exception) -> Response:
    if is_outage(exc):  # the driver's and the database's error classes, see db/outage.py
        return database_down(request, exc)
    log.exception("Unhandled error on %s %s", request.method, request.url.path)
    return _page(request, HTTP_500_INTERNAL_SERVER_ERROR, "error.internal")


EXCEPTION_HANDLERS = {
    HTTPException: http_error,
    NotFoundException: http_error,
    NotAuthorizedException: http_error,
    PermissionDeniedException: http_error,
    TransitionConflict: conflict,
    UnloadedVersion: flow_version_loading,
    ConsentRequired: consent_required,
    DatabaseUnavailable: database_down,
    HTTP_404_NOT_FOUND: http_error,
    Exception: internal_error,
}
