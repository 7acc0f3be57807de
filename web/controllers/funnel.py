"""The funnel (Trichter) of a flow version for product owners: page with an SVG chart
and a table, and the same table as CSV. Only aggregated counts, no person (issue 13)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from litestar import Request, Response, get
from litestar.response import Template

from db import funnel as counters
from db.tables import Organisation
from web.auth import require_product_owner
from web.rendering import page
from workflows import funnel
from core.i18n import _


@dataclass
class FunnelQuery:
    """The page's form: flow, version, period of invitations, organisation (all: None)."""

    flow: str
    version: int
    since: date | None = None
    until: date | None = None
    organisation: int | None = None
    raw: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _date(value: str, key: str, errors: dict[str, str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[key] = _("Bitte ein Datum im Format JJJJ-MM-TT angeben, z. B. 2026-11-01.")
        return None


def _number(value: str, key: str, errors: dict[str, str], message: str) -> int | None:
    if not value:
        return None
    if not value.isdecimal() or not 0 < int(value) < 2**31:
        errors[key] = message
        return None
    return int(value)


async def parse_query(request: Request, organisations: list[dict]) -> FunnelQuery:
    registry = request.app.state.service.registry
    params = request.query_params
    raw = {key: str(params.get(key, "")).strip()[:100] for key in ("ablauf", "version", "von", "bis", "organisation")}
    errors: dict[str, str] = {}
    name = raw["ablauf"] or registry.onboarding().name
    if name not in registry.names():
        errors["ablauf"] = _("Diesen Ablauf gibt es nicht.")
        name = registry.onboarding().name
    version = _number(raw["version"], "version", errors, _("Bitte eine Versionsnummer angeben."))
    if version is not None and version not in registry.versions(name):
        errors["version"] = _("Diese Version gibt es für den Ablauf nicht.")
        version = None
    query = FunnelQuery(
        flow=name,
        version=version or registry.current(name).version,
        since=_date(raw["von"], "von", errors),
        until=_date(raw["bis"], "bis", errors),
        organisation=_number(raw["organisation"], "organisation", errors, _("Bitte eine Organisation aus der Liste wählen.")),
        raw=raw,
        errors=errors,
    )
    if query.since and query.until and query.since > query.until:
        errors["bis"] = _("Das Ende des Zeitraums liegt vor seinem Anfang.")
    if query.organisation is not None and query.organisation not in {o["id"] for o in organisations}:
        errors["organisation"] = _("Bitte eine Organisation aus der Liste wählen.")
    return query


async def organisations_of(request: Request) -> list[dict]:
    """Organisations (their names only) for the filter; no person of them."""
    return await request.app.state.db.fetch(
        Organisation.select(Organisation.id, Organisation.name).order_by(Organisation.name)
    )


async def load_report(request: Request, query: FunnelQuery) -> funnel.FunnelReport:
    definition = request.app.state.service.registry.get(query.flow, query.version).definition
    rows = await counters.counts(
        request.app.state.db, query.flow, query.version, query.organisation, query.since, query.until
    )
    return funnel.build_report(definition, rows, query.since, query.until, query.organisation)


@get("/trichter", name="funnel")
async def funnel_page(request: Request) -> Template:
    await require_product_owner(request)
    organisations = await organisations_of(request)
    query = await parse_query(request, organisations)
    registry = request.app.state.service.registry
    context = {
        "query": query,
        "flows": registry.names(),
        "versions": registry.versions(query.flow),
        "organisations": organisations,
        "report": None if query.errors else await load_report(request, query),
    }
    if context["report"] is not None:
        context.update(
            header=funnel.table_header(context["report"]),
            rows=funnel.table_rows(context["report"]),
            summary=funnel.summary(context["report"]),
            hours=funnel.hours,
            percent=funnel.percent,
        )
    return page("funnel.html", context, status_code=422 if query.errors else 200)


@get("/trichter.csv", name="funnel_csv")
async def funnel_csv(request: Request) -> Response:
    await require_product_owner(request)
    query = await parse_query(request, await organisations_of(request))
    if query.errors:
        text = "\n".join(f"{key}: {message}" for key, message in query.errors.items())
        return Response(text, status_code=422, media_type="text/plain; charset=utf-8")
    report = await load_report(request, query)
    return Response(
        funnel.to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="trichter-{report.flow}-v{report.version}.csv"'},
    )
