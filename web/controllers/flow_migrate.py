"""Migrieren (flow studio): move the running instances of an older version to the
published one by a state mapping, in batches with a progress bar; resumable, audited."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY

from db import flow_migrations, flow_versions
from db.engine import ConflictError
from web.auth import actor_of, client_ip, require_product_owner
from web.forms import CSRF_FIELD
from web.rendering import fragment, page, wants_fragment
from workflows import flow_migration, publication
from workflows.registry import UnknownFlow
from core.i18n import _

TEMPLATE = "flow_migrate.html"
BATCH = 200


async def _versions(request: Request, name: str, from_version: int):
    registry = request.app.state.registry
    if name not in registry.names():
        raise NotFoundException()
    await publication.ensure_known(request.app.state.db, registry, name, from_version)
    try:
        old = registry.get(name, from_version).definition
    except UnknownFlow:
        raise NotFoundException() from None
    return old, registry.current(name).definition


def _state_field(state: str) -> str:
    return f"map_{state}"


class FlowMigrateController(Controller):
    path = "/ablaeufe"

    @get("/{flow_name:str}/migrieren/{from_version:int}", name="migration_form")
    async def form(self, request: Request, flow_name: FromPath[str], from_version: FromPath[int]) -> Response:
        await require_product_owner(request)
        old, new = await _versions(request, flow_name, from_version)
        running = await flow_migrations.running(request.app.state.db, flow_name, from_version)
        if running is not None:
            return Redirect(request.app.route_reverse("migration", migration_id=running["id"]), status_code=303)
        choices = {s: (s if s in new.states else "") for s in old.states}
        return await self._form(request, old, new, choices, {})

    async def _form(self, request, old, new, choices, errors, status=200, message=None) -> Response:
        counts = await flow_versions.instances_per_state(request.app.state.db, old.name, old.version)
        return page(TEMPLATE, {"source": old, "target": new, "counts": counts, "choices": choices, "errors": errors,
                               "migration": None, "field": _state_field, "message": message}, status_code=status)

    @post("/{flow_name:str}/migrieren/{from_version:int}", name="migration_start")
    async def start(self, request: Request, flow_name: FromPath[str], from_version: FromPath[int]) -> Response:
        info = await require_product_owner(request)
        old, new = await _versions(request, flow_name, from_version)
        db, now = request.app.state.db, request.app.state.clock.now()
        form = await request.form()
        expected = {_state_field(s) for s in old.states}
        choices, errors = {}, {}
        if any(key not in expected and key != CSRF_FIELD for key in form.keys()):
            errors["_form"] = _("Das Formular enthält unerwartete Felder. Bitte laden Sie die Seite neu.")
        for state, spec in old.states.items():
            values = form.getall(_state_field(state)) if _state_field(state) in form else []
            value = values[0] if len(values) == 1 and isinstance(values[0], str) else ""
            choices[state] = value
            if value not in new.states:
                errors[state] = _("Bitte wählen Sie, in welchen Status von Version %(version)d die Einladungen "
                                  "im Status „%(state)s“ kommen.") % {"version": new.version, "state": spec.label}
        if old.version == new.version:
            errors["_form"] = _("Version %(version)d ist die veröffentlichte Version; es gibt nichts zu migrieren.") % {
                "version": old.version}
        if errors:
            return await self._form(request, old, new, choices, errors, HTTP_422_UNPROCESSABLE_ENTITY)
        total = sum((await flow_versions.instances_per_state(db, old.name, old.version)).values())
        # Two migrations of one version started at once would both run: harmless, as each
        # instance moves once (version-checked), only their progress counts would split.
        rows = await db.write(flow_migration.started_steps(old.name, old, new, choices, total, actor_of(info), now, client_ip(request)))
        return Redirect(request.app.route_reverse("migration", migration_id=rows[0][0]["id"]), status_code=303)

    @get("/migration/{migration_id:int}", name="migration")
    async def show(self, request: Request, migration_id: FromPath[int]) -> Response:
        await require_product_owner(request)
        migration = await _migration(request, migration_id)
        return page(TEMPLATE, _progress_context(migration))

    @post("/migration/{migration_id:int}/schritt", name="migration_step")
    async def step(self, request: HTMXRequest, migration_id: FromPath[int]) -> Response:
        """One batch (the page's form posts it again and again while htmx is there; without
        JavaScript each press of the button moves one batch)."""
        await require_product_owner(request)
        migration = await _migration(request, migration_id)
        if migration["status"] == flow_migrations.RUNNING:
            old, new = await _versions(request, migration["flow_name"], migration["from_version"])
            await publication.ensure_known(request.app.state.db, request.app.state.registry, migration["flow_name"], migration["to_version"])
            target = request.app.state.registry.get(migration["flow_name"], migration["to_version"]).definition
            try:
                await flow_migration.migrate_batch(request.app.state.db, migration, old, target, request.app.state.clock.now(), BATCH)
            except ConflictError:
                pass  # another request moved some of these first; the next step picks up the rest
            migration = await _migration(request, migration_id)
        if wants_fragment(request):
            return fragment(request, TEMPLATE, "progress", _progress_context(migration))
        return Redirect(request.app.route_reverse("migration", migration_id=migration_id), status_code=303)


async def _migration(request: Request, migration_id: int) -> dict:
    migration = await flow_migrations.get(request.app.state.db, migration_id)
    if migration is None:
        raise NotFoundException()
    return migration


def _progress_context(migration: dict) -> dict:
    return {"migration": migration, "source": None, "target": None}
