"""The organisation's Postfach: only members of the organisation who have consented."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.response import Redirect
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest

from db import postfach
from web.auth import require_member
from web.rendering import fragment, page, wants_fragment

TEMPLATE = "postfach.html"


@get("/postfach", name="postfach")
async def inbox(request: HTMXRequest, q: FromQuery[str] = "", cursor: FromQuery[str] = "") -> Response:
    info = await require_member(request)
    rows, next_cursor = await postfach.page(request.app.state.db, info.organisation_id, info.account_id, q[:100], cursor)
    context = {"messages": rows, "next_cursor": next_cursor, "q": q[:100]}
    if wants_fragment(request):
        return fragment(request, TEMPLATE, "list", context)
    return page(TEMPLATE, context)


@post("/postfach/{message_id:int}/oeffnen", name="postfach_open")
async def open_message(request: Request, message_id: FromPath[int]) -> Response:
    """Opening marks the message read for this person only; a POST, because no GET may
    change anything (SES-4). Then the message is shown by a plain GET."""
    info = await require_member(request)
    db = request.app.state.db
    if await postfach.message(db, info.organisation_id, message_id) is None:
        raise NotFoundException()
    await db.write([postfach.mark_read_step(message_id, info.account_id, request.app.state.clock.now())])
    return Redirect(request.app.route_reverse("postfach_message", message_id=message_id), status_code=303)


@get("/postfach/{message_id:int}", name="postfach_message")
async def read_message(request: Request, message_id: FromPath[int]) -> Response:
    info = await require_member(request)
    message = await postfach.message(request.app.state.db, info.organisation_id, message_id)
    if message is None:
        raise NotFoundException()
    return page("postfach_message.html", {"message": message})
