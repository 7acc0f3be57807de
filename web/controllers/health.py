"""Health for load balancers and operators: database and scheduler state."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from db.tables import Organisation
from db.outage import is_outage


@get("/health", name="health")
async def health(request: Request) -> Response:
    state = request.app.state
    try:
        await state.db.fetch(Organisation.select(Organisation.id).limit(1))
        database = "ok"
    except Exception as exc:
        if not is_outage(exc):
            raise
        database = "unavailable"
    scheduler = state.scheduler
    scheduler_state = "disabled" if scheduler is None else ("running" if scheduler.running else "stopped")
    if scheduler is None and state.get("scheduler_process"):
        scheduler_state = "separate process"  # `serve --workers N` runs it once, beside its web processes
    healthy = database == "ok" and scheduler_state != "stopped"
    registry = state.registry
    # The version new instances start here: shows when a publication reached this process.
    flows = {name: registry.current(name).version for name in registry.names()}
    return Response(
        {"status": "ok" if healthy else "degraded", "database": database, "scheduler": scheduler_state, "flows": flows},
        status_code=HTTP_200_OK if healthy else HTTP_503_SERVICE_UNAVAILABLE,
    )
