from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from web.auth import current_session, require_member


@get("/", name="home")
async def home(request: Request) -> Template:
    info = await current_session(request)
    person = None
    if info is not None and info.kind == "login":
        person = await require_member(request)  # consent first, before anything else
    return Template("home.html", context={"person": person})
