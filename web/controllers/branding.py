"""The operator's brand (core/settings.py, PARTNERPORTAL_BRAND_*): the primary
colour as a tiny style sheet (the CSP allows no inline styles) and the logo file."""

from __future__ import annotations

from pathlib import Path

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException

from core.branding import LOGO_SUFFIXES

# Served to the app, too: no CSRF cookie needed (see web/controllers/companion.py).
NO_COOKIES = {"exclude_from_csrf": True}


def _brand_css(request: Request) -> Response:
    colour = request.app.state.settings.brand_primary_color  # checked to be #rrggbb at start
    return Response(f":root {{ --brand: {colour}; }}\n", media_type="text/css")


@get("/branding/brand.css", name="brand_css", opt=NO_COOKIES)
async def brand_css(request: Request) -> Response:
    return _brand_css(request)


@get("/app/brand.css", name="companion_brand_css", opt=NO_COOKIES)
async def companion_brand_css(request: Request) -> Response:
    """The same, inside the app's scope, so its service worker keeps it for offline starts."""
    return _brand_css(request)


@get("/branding/logo", name="brand_logo", opt=NO_COOKIES)
async def brand_logo(request: Request) -> Response:
    configured = request.app.state.settings.brand_logo
    if not configured:
        raise NotFoundException()
    path = Path(configured)
    return Response(path.read_bytes(), media_type=LOGO_SUFFIXES[path.suffix.lower()])
