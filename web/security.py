"""Security headers on every response (SES-6)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

# No inline script or style anywhere: htmx is told not to inject its indicator styles.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ]
)

STATIC_PREFIX = "/static/"
# Production is served over HTTPS only: browsers that saw the portal once refuse plain
# HTTP to it for a year, so a network attacker cannot strip TLS on a later visit.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"


def security_headers(production: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """The before_send hook; Strict-Transport-Security only in production (development is plain HTTP)."""

    async def add(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = _common_headers(message, scope)
        if production:
            headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY

    return add


def _common_headers(message: Message, scope: Scope) -> MutableScopeHeaders:
    headers = MutableScopeHeaders.from_message(message)
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if not scope.get("path", "").startswith(STATIC_PREFIX):
        # Pages may show personal data: never keep them in a shared or browser cache.
        headers["Cache-Control"] = "no-store"
    return headers
