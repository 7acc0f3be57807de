"""CSV-Import in the Nutzerverwaltung: upload a list, check it, invite the valid rows.

Upload and preview are one request each; the run is a series of POSTs, each
inviting the next few rows (without JavaScript the page offers "Weiter", with htmx
the next step starts by itself). Everything lives in the database, so any app
process can serve any step, and two steps at once never invite a row twice."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath

from litestar import Controller, Response, get, post
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.exceptions import NotFoundException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE, HTTP_422_UNPROCESSABLE_ENTITY
from litestar.types import ASGIApp, Empty, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from db import csv_imports
from db.csv_imports import ImportInfo, ImportRow, NewRow, RowStatus
from db.sessions import SessionInfo
from web import csv_import
from web.auth import actor_of, client_ip, require_admin
from web.forms import CSRF_FIELD, has_control_characters, read_form
from web.rendering import fragment, page, wants_fragment
from workflows.invitations import AlreadyInvited, Person, invite
from workflows.mail_limits import InviteLimitReached, MailLimits, RecipientLimitReached
from workflows.service import FlowService
from core.i18n import _, lazy_gettext

log = logging.getLogger(__name__)

TEMPLATE = "users_import.html"
FILE_FIELD = "datei"
ROWS_PER_STEP = 25
STALE_CLAIM = timedelta(minutes=2)  # far longer than one step takes
# Room for the multipart framing and the CSRF field around a file of MAX_BYTES; a
# larger body is refused before it is read.
MAX_BODY = csv_import.MAX_BYTES + 64 * 1024
TOO_LARGE = lazy_gettext(
    "Die Datei ist zu groß: höchstens %(mib)d MiB sind möglich. Bitte teilen Sie die Liste auf mehrere Dateien auf."
)

RESULT_LABELS = {
    RowStatus.INVALID: lazy_gettext("ungültig"),
    RowStatus.KNOWN: lazy_gettext("bereits eingeladen"),
    RowStatus.PENDING: lazy_gettext("wird eingeladen"),
    RowStatus.RUNNING: lazy_gettext("wird eingeladen"),
    RowStatus.INVITED: lazy_gettext("eingeladen"),
    RowStatus.ALREADY_INVITED: lazy_gettext("bereits eingeladen"),
    RowStatus.LIMIT: lazy_gettext("Limit erreicht – bitte später erneut importieren"),
}
BADGES = {
    RowStatus.INVALID: "danger",
    RowStatus.KNOWN: "muted",
    RowStatus.PENDING: "info",
    RowStatus.RUNNING: "progress",
    RowStatus.INVITED: "success",
    RowStatus.ALREADY_INVITED: "muted",
    RowStatus.LIMIT: "warning",
}
# Rows a run works on; invalid rows and addresses known at upload are never tried.
RUN_STATUSES = (RowStatus.PENDING, RowStatus.RUNNING, RowStatus.INVITED, RowStatus.ALREADY_INVITED, RowStatus.LIMIT)
OPEN_STATUSES = (RowStatus.PENDING, RowStatus.RUNNING)


@dataclass
class RowView:
    row: ImportRow
    label: str
    badge: str


@dataclass
class Progress:
    counts: dict[RowStatus, int]
    started: bool

    @property
    def total(self) -> int:
        return sum(self.counts[s] for s in RUN_STATUSES)

    @property
    def done(self) -> int:
        return self.total - self.open

    @property
    def open(self) -> int:
        return sum(self.counts[s] for s in OPEN_STATUSES)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def is_preview(self) -> bool:
        return not self.started

    @property
    def is_running(self) -> bool:
        return self.started and self.open > 0

    @property
    def is_done(self) -> bool:
        return self.started and self.open == 0

    @property
    def invited(self) -> int:
        return self.counts[RowStatus.INVITED]

    @property
    def already_invited(self) -> int:
        return self.counts[RowStatus.KNOWN] + self.counts[RowStatus.ALREADY_INVITED]

    @property
    def invalid(self) -> int:
        return self.counts[RowStatus.INVALID]

    @property
    def limited(self) -> int:
        return self.counts[RowStatus.LIMIT]


def body_too_large(request: HTMXRequest, exc: RequestEntityTooLarge) -> Response:
    """The body is refused before it is read, also while the CSRF middleware looks for
    the token in it: the upload form again, with the German message."""
    context = {"csv": None, "error": TOO_LARGE % {"mib": csv_import.MAX_BYTES // (1024 * 1024)}, "recent": [], **_limits()}
    return page(TEMPLATE, context, status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE)


def _limits() -> dict:
    return {"max_rows": csv_import.MAX_ROWS, "max_mib": csv_import.MAX_BYTES // (1024 * 1024)}


def close_uploads_afterwards(app: ASGIApp) -> ASGIApp:
    """Close uploaded files however the request ends. Litestar closes them after a
    handler ran, but its CSRF middleware parses a multipart body to find the token
    and, when it refuses the request, leaves the temporary files open."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        finally:
            form = ScopeState.from_scope(scope).form
            if form is not Empty:
                await FormMultiDict.from_form_data(form).close()

    return middleware


class UsersImportController(Controller):
    path = "/nutzerverwaltung/csv-import"

    @get("/", name="users_import")
    async def upload_form(self, request: HTMXRequest) -> Response:
        admin = await require_admin(request)
        return await self._upload_page(request, admin)

    @post(
        "/", name="users_import_upload", request_max_body_size=MAX_BODY, middleware=[close_uploads_afterwards],
        exception_handlers={RequestEntityTooLarge: body_too_large},
    )
    async def upload(self, request: HTMXRequest) -> Response:
        admin = await require_admin(request)
        service: FlowService = request.app.state.service
        form = await request.form()
        file, problem = _the_one_file(form)
        data = await file.read(csv_import.MAX_BYTES + 1) if file else b""
        if problem:
            return await self._upload_page(request, admin, problem, HTTP_422_UNPROCESSABLE_ENTITY)
        try:
            parsed = csv_import.parse(data)
        except csv_import.CsvFileError as exc:
            status = HTTP_413_REQUEST_ENTITY_TOO_LARGE if exc.too_large else HTTP_422_UNPROCESSABLE_ENTITY
            return await self._upload_page(request, admin, exc.message, status)
        known = await csv_imports.known_addresses(service.db, admin.organisation_id, [r.email for r in parsed.rows if r.valid])
        import_id = await csv_imports.create(
            service.db, admin.organisation_id, admin.account_id, _safe_filename(file.filename), parsed.encoding,
            parsed.delimiter, [_new_row(r, known) for r in parsed.rows], service.clock.now(),
        )
        return Redirect(request.app.route_reverse("users_import_view", import_id=import_id), status_code=303)

    @get("/{import_id:int}", name="users_import_view")
    async def view(self, request: HTMXRequest, import_id: FromPath[int]) -> Response:
        admin = await require_admin(request)
        info = await self._import_of(request, admin, import_id)
        context = await self._context(request, info, await csv_imports.rows(request.app.state.db, info.id))
        return page(TEMPLATE, context)

    @post("/{import_id:int}/einladen", name="users_import_run")
    async def run(self, request: HTMXRequest, import_id: FromPath[int]) -> Response:
        return await self._step(request, import_id, retry=False)

    @post("/{import_id:int}/erneut-einladen", name="users_import_retry")
    async def retry(self, request: HTMXRequest, import_id: FromPath[int]) -> Response:
        return await self._step(request, import_id, retry=True)

    async def _step(self, request: HTMXRequest, import_id: int, retry: bool) -> Response:
        admin = await require_admin(request)
        info = await self._import_of(request, admin, import_id)
        form = await read_form(request, ())
        if not form.ok:
            context = await self._context(request, info, await csv_imports.rows(request.app.state.db, info.id))
            context["error"] = form.errors.get("_form") or _("Das Formular ist ungültig. Bitte laden Sie die Seite neu.")
            return page(TEMPLATE, context, status_code=HTTP_422_UNPROCESSABLE_ENTITY)
        service: FlowService = request.app.state.service
        if retry:
            await csv_imports.retry_limited(service.db, info.id)
        settings = request.app.state.settings
        changed = await invite_next_rows(
            service, info, admin, client_ip(request), MailLimits.from_settings(settings), ROWS_PER_STEP
        )
        if not wants_fragment(request):
            return Redirect(request.app.route_reverse("users_import_view", import_id=info.id), status_code=303)
        # Rows marked "Limit erreicht" in bulk are not in `changed`: send every row then.
        rows = await csv_imports.rows(service.db, info.id, None if changed is None else changed)
        context = await self._context(request, info, rows, started=True)
        context["oob"] = True
        context["waiting"] = changed == [] and context["progress"].is_running
        return fragment(request, TEMPLATE, "step", context)

    async def _import_of(self, request: HTMXRequest, admin: SessionInfo, import_id: int) -> ImportInfo:
        info = await csv_imports.get(request.app.state.db, admin.organisation_id, import_id)
        if info is None:
            raise NotFoundException()
        return info

    async def _context(self, request: HTMXRequest, info: ImportInfo, rows: list[ImportRow], started: bool = False) -> dict:
        counts = await csv_imports.counts(request.app.state.db, info.id)
        progress = Progress(counts, started or info.started_at is not None)
        return {
            "csv": info, "rows": [RowView(r, RESULT_LABELS[r.status], BADGES[r.status]) for r in rows],
            "progress": progress, "error": "", "waiting": False, "oob": False,
            "delimiter_name": csv_import.DELIMITER_NAMES.get(info.delimiter, info.delimiter),
            "limit_per_hour": request.app.state.settings.invites_per_admin_per_hour,
        }

    async def _upload_page(self, request: HTMXRequest, admin: SessionInfo, error: str = "", status_code: int = 200) -> Response:
        recent = await csv_imports.recent(request.app.state.db, admin.organisation_id)
        context = {"csv": None, "error": error, "recent": recent, **_limits()}
        return page(TEMPLATE, context, status_code=status_code)


async def invite_next_rows(
    service: FlowService, info: ImportInfo, admin: SessionInfo, ip: str, mail_limits: MailLimits, batch: int
) -> list[int] | None:
    """Claim and invite the next rows; the ids of the rows finished, or None when the
    hourly limit was reached and every open row was marked at once."""
    db, now = service.db, service.clock.now()
    await csv_imports.mark_started(db, info.id, now)
    claim_id = secrets.token_hex(16)
    claimed = await csv_imports.claim(db, info.id, claim_id, now, now - STALE_CLAIM, batch)
    finished: list[int] = []
    try:
        for row in claimed:
            person = Person(row.salutation, row.first_name, row.last_name, row.email)
            try:
                record = await invite(service, info.organisation_id, person, actor_of(admin), ip, mail_limits)
            except AlreadyInvited as exc:
                await csv_imports.finish(db, row.id, claim_id, RowStatus.ALREADY_INVITED, exc.instance_id)
            except RecipientLimitReached:
                # Only this address had its mails for the day; the other rows go on.
                await csv_imports.finish(db, row.id, claim_id, RowStatus.LIMIT, None)
            except InviteLimitReached:
                await csv_imports.mark_limited(db, info.id, claim_id)
                return None
            else:
                await csv_imports.finish(db, row.id, claim_id, RowStatus.INVITED, record.id)
            finished.append(row.id)
    except BaseException:
        # Give the rest back at once rather than after STALE_CLAIM; best effort.
        try:
            await csv_imports.release(db, claim_id)
        except Exception:
            log.warning("Could not release claimed CSV import rows of import %s", info.id, exc_info=True)
        raise
    return finished


def _the_one_file(form) -> tuple[UploadFile | None, str]:
    """The upload, if the form holds exactly one file in FILE_FIELD and nothing else."""
    if any(key not in (FILE_FIELD, CSRF_FIELD) for key in form.keys()):
        return None, _("Das Formular enthält unerwartete Felder. Bitte laden Sie die Seite neu.")
    values = form.getall(FILE_FIELD) if FILE_FIELD in form else []
    if len(values) > 1:
        return None, _("Bitte wählen Sie genau eine Datei aus.")
    if not values or not isinstance(values[0], UploadFile):
        return None, _("Bitte wählen Sie eine CSV-Datei aus.")
    return values[0], ""


def _safe_filename(name: str | None) -> str:
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = "".join(c for c in base if not has_control_characters(c)).strip()
    return (base or "liste.csv")[:200]


def _new_row(row: csv_import.CsvRow, known: set[str]) -> NewRow:
    if not row.valid:
        status = RowStatus.INVALID
    elif row.email.lower() in known:
        status = RowStatus.KNOWN
    else:
        status = RowStatus.PENDING
    return NewRow(row.line, row.salutation, row.first_name, row.last_name, row.email, row.problems, status)
