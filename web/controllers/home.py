from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from web.auth import current_session


@get("/", name="home")
async def home(request: Request) -> Template:
    info = await current_session(request)
    person = info if info is not None and info.kind == "login" else None
    return Template("home.html", context={"person": person})
