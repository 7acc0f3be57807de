"""The organisation's flow as a diagram, for admins and product owners."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from web.auth import require_admin
from web.rendering import page
from workflows import diagram
from core.i18n import _


@get("/nutzerverwaltung/ablauf", name="flow_view")
async def flow_view(request: Request) -> Response:
    await require_admin(request)
    flow = request.app.state.service.registry.onboarding()
    return page("flow.html", {"flow": flow.definition})


@get("/nutzerverwaltung/ablauf.svg", name="flow_svg")
async def flow_svg(request: Request) -> Response:
    await require_admin(request)
    flow = request.app.state.service.registry.onboarding()
    cache = request.app.state.diagram_cache
    key = (flow.name, flow.version)
    if key not in cache:  # derived from the definition alone, so caching per process is safe
        try:
            cache[key] = diagram.svg(flow)
        except diagram.GraphvizMissing:
            return Response(_("Graphviz fehlt auf dem Server."), status_code=HTTP_503_SERVICE_UNAVAILABLE, media_type="text/plain")
    return Response(cache[key], media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=300"})
