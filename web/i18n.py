"""Which language a request is answered in: the cookie `pp_lang` (set by the
language switch), else the logged-in person's profile language, else the browser's
Accept-Language, else German. Only languages of PARTNERPORTAL_LANGUAGES count."""

from __future__ import annotations

from urllib.parse import quote

from babel import negotiate_locale
from litestar import Request
from litestar.connection import ASGIConnection

from core.i18n import NATIVE_NAMES, SOURCE_LANGUAGE, current_language, html_lang, reset_language, set_language

LANGUAGE_COOKIE = "pp_lang"
COOKIE_MAX_AGE = 400 * 24 * 3600  # browsers cap cookies at 400 days
STATIC_PREFIXES = ("/static/", "/app/static/")


def from_accept_language(header: str, offered: list[str]) -> str | None:
    """The best offered language for an Accept-Language header (q-values honoured);
    `de-x-ls` is chosen only by the switch, a browser asking for `de` gets German."""
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        tag = tag.strip()
        if tag and quality > 0:
            wanted.append((-quality, position, tag.replace("_", "-")))
    preferred = [tag for _, _, tag in sorted(wanted)]
    plain = [code for code in offered if "-x-" not in code]
    if "*" in preferred:
        preferred = [tag if tag != "*" else SOURCE_LANGUAGE for tag in preferred]
    return negotiate_locale(preferred, plain, sep="-")


def known(code: str | None, offered: list[str]) -> str | None:
    return code if code in offered else None


def request_language(cookies: dict[str, str], accept_language: str, offered: list[str],
                     profile_language: str | None = None) -> str:
    return (
        known(cookies.get(LANGUAGE_COOKIE), offered)
        or known(profile_language, offered)
        or from_accept_language(accept_language, offered)
        or SOURCE_LANGUAGE
    )


def language_middleware(app, offered: list[str]):
    """Around the whole app (error pages of unknown paths included): sets the language
    from cookie and Accept-Language for this request, and resets it afterwards."""

    async def middleware(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        connection = ASGIConnection(scope)
        token = set_language(request_language(connection.cookies, connection.headers.get("accept-language", ""), offered))
        try:
            await app(scope, receive, send)
        finally:
            reset_language(token)

    return middleware


async def apply_profile_language(request: Request) -> None:
    """Before a handler: a logged-in person without a language cookie gets the language
    stored in their profile (one cached session lookup; most handlers need it anyway)."""
    settings = request.app.state.settings
    if known(request.cookies.get(LANGUAGE_COOKIE), settings.language_list()):
        return
    if request.scope.get("path", "").startswith(STATIC_PREFIXES):
        return  # files have no language; no session lookup for each of them
    from web.auth import current_session, session_cookie_name

    if not request.cookies.get(session_cookie_name(settings)):
        return
    info = await current_session(request)
    profile_language = getattr(info, "language", None) if info else None
    if profile_language and profile_language in settings.language_list():
        set_language(profile_language)


def _switch_url(app, code: str) -> str:
    """On every page: remembered in the app's URLs of the templates (web/rendering.py url_for),
    as a route's URL does not change while the app runs (route_reverse ~15 us)."""
    key = ("language_switch", ("code", code))
    urls = app.state.template_urls
    url = urls.get(key)
    if url is None:
        url = urls[key] = app.route_reverse("language_switch", code=code)
    return url


def language_links(request: Request | None, offered: list[str]) -> list[dict[str, object]]:
    """The switch's links: each language named in itself, back to this page afterwards."""
    here = ""
    if request is not None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    current = current_language()
    links = []
    for code in offered:
        href = _switch_url(request.app, code) if request is not None else f"/sprache/{code}"
        if here:
            href += f"?zurueck={quote(here, safe='/')}"
        links.append({"code": code, "name": NATIVE_NAMES[code], "lang": html_lang(code), "href": href,
                      "current": code == current})
    return links
