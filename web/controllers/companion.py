"""The Zwei-Faktor-App: an installable web app (PWA) under /app/, served by the portal.

It shares nothing with the portal's session: its pages set no cookies (not even the
CSRF cookie) and its JavaScript calls the JSON API in web/controllers/app_api.py with
`credentials: "omit"`, proving itself with the device's signature and the PIN."""

from __future__ import annotations

from pathlib import Path

from litestar import Request, Response, get
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router

from core.i18n import _, format_locale, html_lang, lazy_gettext
from core.portal_name import PortalName
from web.texts import TEXTS

APP_PATH = "/app/"
APP_STATIC = Path(__file__).parent.parent / "static" / "app"
APP_NAME = lazy_gettext("Zwei-Faktor-App")
MESSAGE_PREFIX = "app.message."

# No page or file of the app needs the CSRF cookie (its only writes go to /api/app/,
# which has none), so the app's browser storage holds no cookie of the portal at all.
NO_COOKIES = {"exclude_from_csrf": True}

# The app's files under its own scope (/app/static/...), also for the service worker.
companion_static = create_static_files_router(
    path="/app/static", directories=[APP_STATIC], name="companion_static", opt=NO_COOKIES
)


def app_messages() -> dict[str, str]:
    """The texts the app's JavaScript shows (errors, live status), by short key, in the
    current language (rendered into the app's page: its catalog for the script)."""
    return {
        key.removeprefix(MESSAGE_PREFIX): str(value)
        for key, value in TEXTS.items()
        if key.startswith(MESSAGE_PREFIX)
    }


@get("/app/", name="companion_app", opt=NO_COOKIES)
async def companion_app(request: Request) -> Response:
    # Litestar matches /app and /app/ alike; the service worker's scope is /app/ only.
    if not request.scope.get("raw_path", b"").endswith(b"/"):
        return Redirect(APP_PATH, status_code=308)
    settings = request.app.state.settings
    return Template("companion.html", context={
        "app_name": str(APP_NAME),
        "app_path": APP_PATH,
        "theme_color": settings.brand_primary_color,
        "messages": app_messages(),
        # Times in the app ("Anmeldung von 14:05 Uhr") in the language's format (BCP 47).
        "time_locale": format_locale().replace("_", "-"),
        "pin_attempts": settings.pin_attempts,
        "code_minutes": settings.activation_code_minutes,
    })


@get("/app/manifest.webmanifest", name="companion_manifest", opt=NO_COOKIES)
async def companion_manifest(request: Request) -> Response:
    settings = request.app.state.settings

    def icon(name: str, size: int, purpose: str = "any") -> dict:
        src = request.app.route_reverse("companion_static", file_path=f"/{name}")
        return {"src": src, "sizes": f"{size}x{size}", "type": "image/png", "purpose": purpose}

    manifest = {
        "id": APP_PATH,
        "name": str(APP_NAME),
        "short_name": "2FA-App",
        "description": _("Bestätigt Ihre Anmeldungen %(beim_portal)s mit Ihrem PIN-Code.") % PortalName(settings.portal_name, settings.portal_name_gender).forms(),
        "lang": html_lang(),
        "dir": "ltr",
        "start_url": APP_PATH,
        "scope": APP_PATH,
        "display": "standalone",
        "orientation": "any",
        "background_color": "#ffffff",
        "theme_color": settings.brand_primary_color,
        "icons": [
            icon("icon-192.png", 192),
            icon("icon-512.png", 512),
            icon("icon-maskable-512.png", 512, "maskable"),
        ],
    }
    return Response(manifest, media_type="application/manifest+json")


@get("/app/sw.js", name="companion_service_worker", opt=NO_COOKIES)
async def companion_service_worker() -> Response:
    # Served from /app/ (not /static/) so that its default scope is the app.
    return Response(
        (APP_STATIC / "sw.js").read_bytes(),
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": APP_PATH},
    )


