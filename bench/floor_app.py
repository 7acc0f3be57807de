"""The floor under the Nutzerverwaltung's CPU per page (`python -m bench.admin_table --floor`):
what the server stack costs before any of the app's own work, for a body of the page's size.

    asgi              a bare ASGI app on uvicorn: the HTTP server alone
    create_litestar   a Litestar app with one route and no middleware: the framework too

Both answer every path with BENCH_FLOOR_BYTES bytes of HTML (default 27 648, the 27 KiB of
the first page).
"""

from __future__ import annotations

import functools
import os

from litestar import Litestar, Response, get


@functools.cache
def _body() -> bytes:
    return b"x" * int(os.environ.get("BENCH_FLOOR_BYTES", "27648"))


async def asgi(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = _body()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_litestar() -> Litestar:
    body = _body()

    @get("/{path:path}", sync_to_thread=False)
    def page(path: str) -> Response:
        return Response(body, media_type="text/html; charset=utf-8")

    @get("/", sync_to_thread=False)
    def root() -> Response:
        return Response(body, media_type="text/html; charset=utf-8")

    return Litestar([page, root])
