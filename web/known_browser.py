"""The "known browser" cookie (PIN-6): signed, long-lived, set after a successful login and
naming the accounts that logged in from this browser. A known browser's login starts do
not count against the per-account limit that strangers can exhaust, so a flood of
requests by someone else does not lock the person out of their usual browser."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer
from litestar import Request, Response

COOKIE = "pp_known_browser"
SALT = "partnerportal:known-browser"
MAX_ACCOUNTS = 5  # a shared office computer: the last few people who logged in there


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.settings.secret_key, salt=SALT)


def known_accounts(request: Request) -> frozenset[int]:
    """The accounts that logged in from this browser within the cookie's lifetime."""
    return frozenset(_ordered(request))


def remember(request: Request, response: Response, account_id: int) -> None:
    """Puts the account first in this browser's cookie (signed anew: a fresh lifetime)."""
    previous = [a for a in _ordered(request) if a != account_id]
    accounts = [account_id, *previous][:MAX_ACCOUNTS]
    settings = request.app.state.settings
    response.set_cookie(
        COOKIE, _serializer(request).dumps(accounts), httponly=True, samesite="lax", secure=not settings.is_development,
        path=request.app.route_reverse("login"), max_age=settings.known_browser_days * 24 * 3600,
    )


def _ordered(request: Request) -> list[int]:
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 1024:
        return []
    max_age = request.app.state.settings.known_browser_days * 24 * 3600
    try:
        value = _serializer(request).loads(raw, max_age=max_age)
    except BadSignature:  # also SignatureExpired
        return []
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
