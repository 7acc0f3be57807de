"""One template per screen; HTMX requests get one named block of it rendered alone,
so the full page and the fragment are the same markup and cannot drift apart."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template


def render_block(request: Request, template_name: str, block: str, context: dict[str, Any]) -> str:
    template = request.app.template_engine.get_template(template_name)
    full_context = Template(template_name=template_name, context=context).create_template_context(request)
    return "".join(template.blocks[block](template.new_context(full_context)))


def fragment(
    request: Request, template_name: str, block: str, context: dict[str, Any], status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        render_block(request, template_name, block, context),
        media_type=MediaType.HTML,
        status_code=status_code,
        headers={"Vary": "HX-Request", **(headers or {})},
    )


def page(
    template_name: str, context: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None
) -> Template:
    return Template(template_name, context=context, status_code=status_code, headers={"Vary": "HX-Request", **(headers or {})})


def wants_fragment(request: HTMXRequest) -> bool:
    """HTMX asked for part of a page; boosted links and history restores get the page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request
