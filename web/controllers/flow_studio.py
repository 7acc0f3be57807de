"""Flow studio for product owners: Abläufe (flows and their versions), Entwurf (a new
version as YAML, checked while typing), Vorschau (diagrams and a German diff) and
Veröffentlichen. Organisation admins get 403 here; no page names an organisation's people."""

from __future__ import annotations

import re

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_422_UNPROCESSABLE_ENTITY, HTTP_503_SERVICE_UNAVAILABLE

from db import flow_drafts, flow_simulations, flow_versions
from db.accounts import PRODUCT_OWNER_ROLE
from db.audit import audit_step
from db.engine import ConflictError
from web import flow_check_texts
from web.auth import actor_of, client_ip, require_product_owner
from web.forms import CSRF_FIELD
from web.rendering import fragment, page, wants_fragment
from workflows import diagram, draft_check, flow_diff, publication
from workflows.definition import FlowDefinitionError, parse
from workflows.engine import Flow
from core.i18n import _, format_number, lazy_gettext

FLOWS_TEMPLATE = "flows.html"
DRAFT_TEMPLATE = "flow_draft.html"
PREVIEW_TEMPLATE = "flow_preview.html"
MAX_TEXT = 200_000  # characters; the shipped flow has ~9 000
MAX_BODY = 4 * MAX_TEXT
TOO_LONG = lazy_gettext("Der Text ist zu lang: höchstens %(max)s Zeichen.")
_VERSION_LINE = re.compile(r"^version:[^\n]*$", re.MULTILINE)


def publisher_name(actor: str, names: dict[int, str]) -> str:
    """Who published, as the studio may show it: product owners by name, else the way."""
    kind, _colon, rest = actor.partition(":")
    if kind == "account" and rest.isdigit():
        return names.get(int(rest), _("ein Konto"))
    if kind == "file":
        return _("Datei %(file)s beim Start") % {"file": rest}
    if kind == "cli":
        return _("Kommandozeile")
    return actor or "–"


def _account_ids(actors) -> list[int]:
    return [int(a.split(":", 1)[1]) for a in actors if a.startswith("account:") and a.split(":", 1)[1].isdigit()]


async def draft_or_404(request: Request, draft_id: int) -> dict:
    draft = await flow_drafts.get(request.app.state.db, draft_id)
    if draft is None:
        raise NotFoundException()
    return draft


async def _text_field(request: Request) -> tuple[str | None, str | None]:
    """The one `text` field (a list is refused, SES-8), and a German problem if any."""
    form = await request.form()
    if any(key not in ("text", CSRF_FIELD) for key in form.keys()):
        return None, _("Das Formular enthält unerwartete Felder. Bitte laden Sie die Seite neu.")
    values = form.getall("text") if "text" in form else []
    if len(values) != 1 or not isinstance(values[0], str):
        return None, _("Bitte geben Sie den Ablauf als Text ein.")
    if len(values[0]) > MAX_TEXT:
        return None, TOO_LONG % {"max": format_number(MAX_TEXT)}
    return values[0].replace("\r\n", "\n"), None


def _with_version(text: str, version: int) -> str:
    return _VERSION_LINE.sub(f"version: {version}", text, count=1)


class FlowStudioController(Controller):
    path = "/ablaeufe"

    @get("/", name="flows")
    async def flows(self, request: Request) -> Response:
        await require_product_owner(request)
        db, registry = request.app.state.db, request.app.state.registry
        published = await flow_versions.publications(db)
        drafts = await flow_drafts.open_drafts(db)
        rows = []
        actors = [p["published_by"] for p in published.values()]
        for name in registry.names():
            versions = await flow_versions.stored_versions(db, name)
            actors += [v["published_by"] for v in versions if v["published_by"]]
            rows.append({
                "name": name, "flow": registry.current(name).definition, "publication": published.get(name),
                "versions": versions, "instances": await flow_versions.instances_per_version(db, name),
                "drafts": [d for d in drafts if d["flow_name"] == name],
            })
        names = await flow_drafts.product_owner_names(db, _account_ids(actors), PRODUCT_OWNER_ROLE)
        just = re.fullmatch(r"([a-z_][a-z0-9_]*)-([0-9]{1,9})", request.query_params.get("veroeffentlicht", ""))
        message = None
        if just and just.group(1) in registry.names():
            message = _("Version %(version)d von „%(title)s“") % {
                "version": int(just.group(2)), "title": registry.current(just.group(1)).definition.title}
        return page(FLOWS_TEMPLATE, {"rows": rows, "who": lambda actor: publisher_name(actor, names), "message": message})

    @post("/{flow_name:str}/entwurf", name="draft_create")
    async def create_draft(self, request: Request, flow_name: FromPath[str]) -> Response:
        name = flow_name
        info = await require_product_owner(request)
        db, registry, now = request.app.state.db, request.app.state.registry, request.app.state.clock.now()
        if name not in registry.names():
            raise NotFoundException()
        base = registry.current(name)
        row = await flow_versions.stored(db, name, base.version)
        text = _with_version(row["text"] if row else base.definition.text, await flow_versions.highest_version(db, name) + 1)
        actor = actor_of(info)
        draft_id = await flow_drafts.create(
            db, name, base.version, text, actor, now,
            [audit_step("flow_draft_created", now, actor=actor, client_ip=client_ip(request),
                        details={"flow": name, "base_version": base.version})],
        )
        return Redirect(request.app.route_reverse("draft", draft_id=draft_id), status_code=303)

    @get("/entwurf/{draft_id:int}", name="draft")
    async def draft(self, request: Request, draft_id: FromPath[int]) -> Response:
        await require_product_owner(request)
        draft = await draft_or_404(request, draft_id)
        return page(DRAFT_TEMPLATE, _draft_context(draft, draft["text"], draft_check.check_text(draft["text"])))

    @post("/entwurf/{draft_id:int}/pruefen", name="draft_check")
    async def check(self, request: HTMXRequest, draft_id: FromPath[int]) -> Response:
        """Live validation while typing (htmx): the problems only; nothing is saved."""
        await require_product_owner(request)
        draft = await draft_or_404(request, draft_id)
        text, problem = await _text_field(request)
        result = draft_check.check_text(text) if text is not None else None
        context = _draft_context(draft, text or "", result, form_error=problem)
        if wants_fragment(request):
            return fragment(request, DRAFT_TEMPLATE, "problems", context)
        return page(DRAFT_TEMPLATE, context, status_code=200 if result and result.ok else HTTP_422_UNPROCESSABLE_ENTITY)

    @post("/entwurf/{draft_id:int}", name="draft_save", request_max_body_size=MAX_BODY)
    async def save(self, request: Request, draft_id: FromPath[int]) -> Response:
        """Saves the text whatever its problems (it is a draft) and shows them."""
        info = await require_product_owner(request)
        draft = await draft_or_404(request, draft_id)
        text, problem = await _text_field(request)
        if text is None:
            return page(DRAFT_TEMPLATE, _draft_context(draft, draft["text"], None, form_error=problem),
                        status_code=HTTP_422_UNPROCESSABLE_ENTITY)
        return await _store(request, info, draft, text)

    @post("/entwurf/{draft_id:int}/datei", name="draft_upload", request_max_body_size=MAX_BODY)
    async def upload(self, request: Request, draft_id: FromPath[int]) -> Response:
        info = await require_product_owner(request)
        draft = await draft_or_404(request, draft_id)
        form = await request.form()
        files = form.getall("file") if "file" in form else []
        problem = None
        if len(files) != 1 or not isinstance(files[0], UploadFile):
            problem = _("Bitte wählen Sie genau eine Datei (YAML) aus.")
        else:
            data = await files[0].read(MAX_TEXT + 1)
            try:
                text = data.decode("utf-8").replace("\r\n", "\n")
            except UnicodeDecodeError:
                problem = _("Die Datei ist keine UTF-8-Textdatei.")
            else:
                if len(text) > MAX_TEXT:
                    problem = TOO_LONG % {"max": format_number(MAX_TEXT)}
        if problem:
            return page(DRAFT_TEMPLATE, _draft_context(draft, draft["text"], None, upload_error=problem),
                        status_code=HTTP_422_UNPROCESSABLE_ENTITY)
        return await _store(request, info, draft, text)

    @get("/entwurf/{draft_id:int}/vorschau", name="draft_preview")
    async def preview(self, request: Request, draft_id: FromPath[int]) -> Response:
        await require_product_owner(request)
        return await preview_page(request, await draft_or_404(request, draft_id))

    @post("/entwurf/{draft_id:int}/veroeffentlichen", name="draft_publish")
    async def publish(self, request: Request, draft_id: FromPath[int]) -> Response:
        info = await require_product_owner(request)
        draft = await draft_or_404(request, draft_id)
        db, registry, now = request.app.state.db, request.app.state.registry, request.app.state.clock.now()
        if draft["status"] != flow_drafts.OPEN:
            return await preview_page(request, draft, _("Dieser Entwurf ist bereits veröffentlicht."), HTTP_409_CONFLICT)
        try:
            version = parse(draft["text"]).version
            result = await publication.publish(
                db, registry, draft["text"], actor_of(info), now, base_version=draft["base_version"],
                client_ip=client_ip(request), extra_steps=[flow_drafts.published_step(draft["id"], version, now)],
            )
        except FlowDefinitionError:
            return await preview_page(request, draft, _("Der Entwurf hat noch Fehler; beheben Sie sie im Entwurf."),
                                       HTTP_422_UNPROCESSABLE_ENTITY)
        except publication.PublishRefused as exc:
            return await preview_page(request, draft, str(exc), HTTP_422_UNPROCESSABLE_ENTITY)
        except publication.PublishConflict as exc:
            return await preview_page(request, draft, str(exc), HTTP_409_CONFLICT)
        target = request.app.route_reverse("flows")
        return Redirect(f"{target}?veroeffentlicht={result.definition.name}-{result.definition.version}", status_code=303)

    @get("/entwurf/{draft_id:int}/diagramm.svg", name="draft_svg")
    async def draft_svg(self, request: Request, draft_id: FromPath[int]) -> Response:
        await require_product_owner(request)
        draft = await draft_or_404(request, draft_id)
        try:
            definition = parse(draft["text"])
        except FlowDefinitionError:
            raise NotFoundException() from None
        return _svg(request, ("draft", definition.sha256), definition)

    @get("/{flow_name:str}/version/{version:int}/diagramm.svg", name="version_svg")
    async def version_svg(self, request: Request, flow_name: FromPath[str], version: FromPath[int]) -> Response:
        name = flow_name
        await require_product_owner(request)
        registry = request.app.state.registry
        if not registry.knows(name, version):
            await publication.ensure_known(request.app.state.db, registry, name, version)
        if not registry.knows(name, version):
            raise NotFoundException()
        return _svg(request, ("version", name, version), registry.get(name, version).definition)


def _svg(request: Request, key: tuple, definition) -> Response:
    cache = request.app.state.diagram_cache
    if key not in cache:  # derived from the text alone, so caching per process is safe
        try:
            cache[key] = diagram.svg(Flow(definition))
        except diagram.GraphvizMissing:
            return Response(_("Graphviz fehlt auf dem Server."), status_code=HTTP_503_SERVICE_UNAVAILABLE, media_type="text/plain")
    return Response(cache[key], media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=300"})


def _draft_context(draft: dict, text: str, result, form_error: str | None = None, upload_error: str | None = None,
                   saved: bool = False) -> dict:
    return {"draft": draft, "text": text, "result": result, "form_error": form_error, "upload_error": upload_error,
            "saved": saved, "max_text": MAX_TEXT, "problem_text": flow_check_texts.problem_text}


async def _store(request: Request, info, draft: dict, text: str) -> Response:
    db, now = request.app.state.db, request.app.state.clock.now()
    result = draft_check.check_text(text)
    if draft["status"] != flow_drafts.OPEN:
        return page(DRAFT_TEMPLATE, _draft_context(draft, text, result, form_error=_("Dieser Entwurf ist bereits veröffentlicht.")),
                    status_code=HTTP_409_CONFLICT)
    diff = publication.text_diff(draft["text"], text, f"Entwurf {draft['id']}", f"Entwurf {draft['id']}")
    try:
        await db.write([
            flow_drafts.save_step(draft["id"], text, draft["updated_at"], now),
            audit_step("flow_draft_saved", now, actor=actor_of(info), client_ip=client_ip(request),
                       details={"flow": draft["flow_name"], "draft": draft["id"], "diff": diff}),
        ])
    except ConflictError:
        return page(DRAFT_TEMPLATE, _draft_context(
            draft, text, result, form_error=_("Der Entwurf wurde inzwischen an anderer Stelle gespeichert. "
            "Laden Sie die Seite neu; Ihr Text steht unten noch zum Kopieren.")), status_code=HTTP_409_CONFLICT)
    draft = {**draft, "text": text, "updated_at": now}
    status = 200 if result.ok else HTTP_422_UNPROCESSABLE_ENTITY
    return page(DRAFT_TEMPLATE, _draft_context(draft, text, result, saved=True), status_code=status)


async def preview_page(request: Request, draft: dict, error: str | None = None, status: int = 200,
                       days: str | None = None, days_error: str | None = None) -> Response:
    db, registry = request.app.state.db, request.app.state.registry
    result = draft_check.check_text(draft["text"])
    published = registry.current(draft["flow_name"]).definition
    changes = flow_diff.describe(published, result.definition) if result.definition else []
    publication_row = (await flow_versions.publications(db)).get(draft["flow_name"])
    return page(PREVIEW_TEMPLATE, {
        "draft": draft, "result": result, "published": published, "changes": changes, "error": error,
        "stale": publication_row is not None and publication_row["flow_version"] != draft["base_version"],
        "latest": await flow_simulations.latest_for_draft(db, draft["id"]), "days": days or "30", "days_error": days_error,
    }, status_code=status)
