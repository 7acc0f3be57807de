"""Simulation of a draft (Vorschau): a POST starts it as a database job (the scheduler of
any process runs it, jobs/simulations.py); its page shows the progress, refreshed by
htmx polling or, without JavaScript, by the "Aktualisieren" link, and the result."""

from __future__ import annotations

from datetime import timedelta

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY

from db import flow_simulations, flow_versions
from core.i18n import _, lazy_gettext
from web.auth import actor_of, require_product_owner
from web.controllers.flow_studio import draft_or_404, preview_page
from web.forms import CSRF_FIELD
from web.rendering import fragment, page, wants_fragment
from workflows import draft_check, simulation

TEMPLATE = "flow_simulation.html"
MAX_DAYS = 365
DAYS_ERROR = lazy_gettext("Bitte geben Sie eine Zahl von Tagen zwischen 1 und %(max)d ein.")


class FlowSimulationController(Controller):
    path = "/ablaeufe"

    @post("/entwurf/{draft_id:int}/simulation", name="simulation_start")
    async def start(self, request: Request, draft_id: FromPath[int]) -> Response:
        info = await require_product_owner(request)
        draft = await draft_or_404(request, draft_id)
        form = await request.form()
        values = form.getall("tage") if "tage" in form else []
        text = values[0].strip() if len(values) == 1 and isinstance(values[0], str) else ""
        unexpected = any(key not in ("tage", CSRF_FIELD) for key in form.keys())
        days = int(text) if text.isdigit() and 1 <= int(text) <= MAX_DAYS and not unexpected else None
        if days is None:
            return await preview_page(request, draft, status=HTTP_422_UNPROCESSABLE_ENTITY, days=text[:10],
                                      days_error=DAYS_ERROR % {"max": MAX_DAYS})
        if draft_check.check_text(draft["text"]).definition is None:
            return await preview_page(request, draft, _("Der Entwurf hat noch Fehler; beheben Sie sie im Entwurf."),
                                      HTTP_422_UNPROCESSABLE_ENTITY, days=text)
        db, now = request.app.state.db, request.app.state.clock.now()
        since = now - timedelta(days=days)
        total = await flow_versions.count_started(db, draft["flow_name"], since, now)
        rows = await db.write([flow_simulations.create_step(
            draft["id"], draft["flow_name"], draft["text"], days, since, now, total, actor_of(info), now)])
        return Redirect(request.app.route_reverse("simulation", simulation_id=rows[0][0]["id"]), status_code=303)

    @get("/simulation/{simulation_id:int}", name="simulation")
    async def show(self, request: HTMXRequest, simulation_id: FromPath[int]) -> Response:
        await require_product_owner(request)
        row = await flow_simulations.get(request.app.state.db, simulation_id)
        if row is None:
            raise NotFoundException()
        context = {"simulation": row, "result": _result(request, row) if row["status"] == flow_simulations.FINISHED else None}
        if wants_fragment(request):
            return fragment(request, TEMPLATE, "progress", context)
        return page(TEMPLATE, context)


def _result(request: Request, row: dict) -> dict:
    """The finished summary in words: states and timers by their labels."""
    summary = simulation.Summary.from_json(row["summary"])
    draft_flow = draft_check.check_text(row["text"]).definition
    published = request.app.state.registry.current(row["flow_name"]).definition

    def label(flow, state):
        return flow.states[state].label if flow is not None and state in flow.states else state

    def timer_label(event):
        transitions = draft_flow.transitions if draft_flow is not None else ()
        return next((t.label for t in transitions if t.event == event and t.label), event)

    return {
        "invitations": summary.invitations,
        "different": [(count, label(published, actual), label(draft_flow, simulated))
                      for (actual, simulated), count in summary.different.most_common()],
        "pending": [(count, timer_label(event), summary.next_due[event]) for event, count in summary.pending.most_common()],
    }
