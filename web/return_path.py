"""Back to the page that was asked for after the login (a bookmark, or a session that ended).

The login page carries the path as `?weiter=/nutzerverwaltung/`; starting the login keeps
it in a cookie scoped to the login's own URLs, and finishing the login redirects there.
Only a path of this portal is accepted: an absolute or foreign address (an open redirect
an attacker could put into a phishing mail) is ignored and the login ends on the start page."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote, urlsplit

from litestar import Request, Response

RETURN_QUERY = "weiter"
RETURN_COOKIE = "pp_return"
RETURN_PATH_MAX = 500
# Paths that make no sense to return to: the login itself (a loop) and the app's JSON API.
_NO_RETURN_PREFIXES = ("/anmelden", "/abmelden", "/api/")


def safe_return_path(value: str | None, refused: tuple[str, ...] = _NO_RETURN_PREFIXES) -> str | None:
    """value when it is a path of this portal (with an optional query) outside `refused`, else None."""
    if not value or len(value) > RETURN_PATH_MAX or not value.startswith("/"):
        return None
    # "//evil.example" and "/\evil.example" are addresses of another host to a browser.
    if value.startswith("//") or "\\" in value:
        return None
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.fragment:
        return None
    if any(parts.path == p or parts.path.startswith(p.rstrip("/") + "/") for p in refused):
        return None
    return value


def requested_path(request: Request) -> str | None:
    """The page a logged-out GET asked for, for the login to return to."""
    if request.method != "GET":
        return None
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return safe_return_path(path)


def return_query(request: Request | None) -> str:
    """`?weiter=...` for the login form's action when the login page was given a valid path."""
    if request is None:
        return ""
    given = request.query_params.getall(RETURN_QUERY, [])
    path = safe_return_path(given[0]) if len(given) == 1 else None
    return f"?{RETURN_QUERY}={quote(path, safe='/')}" if path else ""


def login_url(request: Request, path: str | None) -> str:
    base = request.app.route_reverse("login")
    return f"{base}?{RETURN_QUERY}={quote(path, safe='/')}" if path else base


def remember_return_path(request: Request, response: Response) -> None:
    """When the login starts: keep ?weiter= (if valid) for the end of the login, else forget any old one."""
    given = request.query_params.getall(RETURN_QUERY, [])
    path = safe_return_path(given[0]) if len(given) == 1 else None
    if path is None:
        forget_return_path(response)
        return
    settings = request.app.state.settings
    response.set_cookie(
        RETURN_COOKIE, quote(path, safe="/"), httponly=True, samesite="lax", secure=not settings.is_development,
        path="/anmelden", max_age=settings.login_request_seconds + 60,
    )


def return_target(request: Request) -> str:
    """Where a finished login goes: the remembered path (checked again), else the start page."""
    remembered = request.cookies.get(RETURN_COOKIE)
    path = safe_return_path(unquote(remembered)) if remembered else None
    return path or request.app.route_reverse("home")


def forget_return_path(response: Response) -> None:
    response.delete_cookie(RETURN_COOKIE, path="/anmelden")
