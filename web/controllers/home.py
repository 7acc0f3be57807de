from __future__ import annotations

from litestar import Request, get
from litestar.response import Template


@get("/", name="home", sync_to_thread=False)
def home(request: Request) -> Template:
    return Template("home.html")
