"""Nutzerverwaltung: an organisation admin's table of invitations, live status,
"Nutzer anlegen", row actions offered by the flow, detail view."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from markupsafe import Markup, escape

from litestar import Controller, Litestar, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_422_UNPROCESSABLE_ENTITY, HTTP_429_TOO_MANY_REQUESTS

from db import people
from db.audit import audit_step
from db.outbox import mail_of, retry_failed
from core.metrics import LIVE_STREAMS
from db.people import PersonRow
from db.tables import id_from
from web import mail_failures
from web.actors import actor_label
from web.auth import actor_of, client_ip, require_admin
from web.forms import INVITE_FIELDS, SALUTATIONS, FormResult, read_form, validate_invitation
from web.live import LOOK_BACK
from web.rendering import RenderedMemo, fixed_url, fragment, page, render_block, wants_fragment
from workflows import admins as admin_rules
from workflows.definition import TransitionDef
from workflows.engine import EventNotAllowed
from workflows.invitations import AlreadyInvited, Person, invite
from workflows.mail_limits import InviteLimitReached, MailLimitReached, MailLimits, RecipientLimitReached
from workflows.service import FlowService, InstanceNotFound
from core.i18n import _, current_language, format_datetime, ngettext

TEMPLATE = "users.html"
FORM_TEMPLATE = "users_new.html"
KEEP_ALIVE_SECONDS = 15  # a comment on an idle stream keeps proxies from closing it


@dataclass(frozen=True, slots=True)
class RowView:
    """A person's row as the table shows it, prepared once per request: the template only
    places these values. Badge and actions come from the flow."""

    person: PersonRow
    label: str
    badge: str
    actions: tuple[TransitionDef, ...]
    description: str
    url: str  # the detail page; the row's actions are below it (`{url}/aktionen`, `{url}/{event}`)
    display_name: str
    invited: str
    validity: str

    @property
    def id(self) -> int:
        return self.person.instance_id

    @property
    def name_or_email(self) -> str:
        return self.person.name or self.person.email


class RowViews:
    """Builds RowViews; one per request, so each flow state is looked up once per page."""

    def __init__(self, app: Litestar, service: FlowService):
        self._service = service
        # The detail route is the controller's path plus the id (UsersController below): one
        # route_reverse per request instead of one url_for per row and action.
        self._prefix = fixed_url(app, "users").rstrip("/") + "/"
        self._valid_until = _("gültig bis %(date)s")  # looked up once, not per row
        self._states: dict[tuple[str, int, str], tuple[str, str, tuple[TransitionDef, ...], str]] = {}

    def _state(self, person: PersonRow) -> tuple[str, str, tuple[TransitionDef, ...], str]:
        key = (person.flow_name, person.flow_version, person.state)
        known = self._states.get(key)
        if known is None:
            flow = self._service.registry.get(person.flow_name, person.flow_version)
            state = flow.definition.states[person.state]
            known = (state.label, state.badge, tuple(flow.transitions_for(person.state, "admin")), state.description)
            self._states[key] = known
        return known

    def _texts(self, person: PersonRow) -> tuple[str, str, str]:
        """Display name, invitation date and validity, in the page's language."""
        # The salutation is stored in German (the form's values); it is shown in the page's language.
        salutation = _(person.salutation) if person.salutation and person.salutation != "keine Angabe" else ""
        name = person.name
        display_name = f"{salutation} {name}" if salutation and name else (name or "–")
        validity = (self._valid_until % {"date": format_datetime(person.expires_at)} if person.expires_at
                    else format_datetime(person.last_activity_at))
        return display_name, format_datetime(person.invited_at), validity

    def of(self, person: PersonRow) -> RowView:
        label, badge, actions, description = self._state(person)
        return RowView(person, label, badge, actions, description, f"{self._prefix}{person.instance_id}", *self._texts(person))

    def cells(self, person: PersonRow) -> RowCells:
        """What cells_of(self.of(person)) gives, without building the RowView (50 per page)."""
        label, badge, actions, _description = self._state(person)
        display_name, invited, validity = self._texts(person)
        return RowCells(
            person.instance_id, f"{self._prefix}{person.instance_id}", escape(display_name), escape(person.email),
            _escaped_label(badge), _escaped_label(str(label)), person.mail_failed, invited, validity, bool(actions),
        )


class RowCells(NamedTuple):
    """A row's cells as the template's block "rows" places them, in this order, HTML-escaped
    once here: that block turns autoescaping off, because Jinja escaping ~600 values one by
    one was the larger part of rendering a 50-row page."""

    id: int
    url: str
    name: str
    email: str
    badge: str
    label: str
    mail_failed: bool
    invited: str
    validity: str
    has_actions: bool


# A flow has a handful of labels and badges: each is escaped once per process (a label
# as the plain text of the current language: LocalizedText hashes as its German text).
_escaped_label = lru_cache(maxsize=1024)(escape)


def cells_of(view: RowView) -> RowCells:
    # Not escaped: the URL (a route and an id) and the dates (digits and fixed words).
    return RowCells(
        view.id, view.url, escape(view.display_name), escape(view.person.email), _escaped_label(view.badge),
        _escaped_label(str(view.label)), view.person.mail_failed, view.invited, view.validity, bool(view.actions),
    )


# How many rendered table pages a process keeps (RenderedMemo): ~50 KB each with their
# rows, and the pages read again and again are few (each organisation's first page, its
# filters, the pages open in admins' browsers).
TABLE_PAGES_KEPT = 32


def rows_html(request: Request, people: list[PersonRow]) -> Markup:
    """The table's rows (block "rows"). A page showing exactly the rows of an earlier one,
    in the same language, gets that page's HTML again: the same first page is read over and
    over (admins reloading it, browsers without the live stream polling it), and building
    and rendering its 50 rows was the largest part of its CPU left in Python
    (docs/benchmarks-nutzerverwaltung.md, round 11). Everything a row's HTML depends on is
    in the rows or fixed for the app (the flow versions' labels and actions, the route)."""
    memo: RenderedMemo = request.app.state.table_rows
    place, rows = (current_language(), tuple(p.instance_id for p in people)), tuple(people)
    html = memo.get(place, rows)
    if html is None:
        views = RowViews(request.app, request.app.state.service)
        html = Markup(render_block(request, TEMPLATE, "rows", {"cells": [views.cells(p) for p in people]}))
        memo.put(place, rows, html)
    return html


def row_view(request: Request, person: PersonRow) -> RowView:
    return RowViews(request.app, request.app.state.service).of(person)


def one_row(view: RowView, **context) -> dict:
    """The context of a fragment that shows this one row (block "rows" with one entry)."""
    return {"row": view, "cells": [cells_of(view)], **context}


class LiveRows:
    """One database read and one rendering per changed row for all of a process's live
    streams of the same organisation (and language).

    The change feed wakes every stream of the organisation at once. Each used to read the
    row itself (100 identical reads queued on the connection pool: p99 0.6-1.5 s with 100
    streams), and after that was shared, each still rendered the same fragment for itself
    (~0.3 ms per stream, the larger part of a change's cost with 100 streams). Streams now
    share a read of the same row started in the same feed generation: it started after
    the poll that woke them, so it shows what that poll announced; a later poll is a new
    generation and a new read. The fragment holds nothing of one browser (no CSRF field,
    no per-admin action: the row offers the flow's admin actions on demand), so it is
    rendered once per language and shared too. Both are keyed by the organisation the
    stream's own session belongs to, and the read is limited to that organisation (SES-7):
    a stream can only ever join work done for its own organisation. Nothing is kept after
    a rendering finishes."""

    def __init__(self) -> None:
        self._reads: dict[tuple[int, int, int], asyncio.Future[PersonRow | None]] = {}
        self._renders: dict[tuple[int, int, int, str], asyncio.Future[str | None]] = {}

    def read(self, service: FlowService, organisation_id: int, instance_id: int, generation: int) -> asyncio.Future[PersonRow | None]:
        key = (organisation_id, instance_id, generation)
        return self._shared(self._reads, key, lambda: people.one(service.db, organisation_id, instance_id, expiry_events=expiry_events(service)))

    async def html(self, request: Request, service: FlowService, organisation_id: int, instance_id: int, generation: int) -> str | None:
        """The row's live fragment in the request's language, or None if the row is gone."""
        key = (organisation_id, instance_id, generation, current_language())

        async def render() -> str | None:
            person = await self.read(service, organisation_id, instance_id, generation)
            return None if person is None else live_row_html(request, person)

        # shield: a stream that goes away must not cancel the work the others wait for
        return await asyncio.shield(self._shared(self._renders, key, render))

    @staticmethod
    def _shared(running: dict, key: tuple, start) -> asyncio.Future:
        future = running.get(key)
        if future is None:
            future = running[key] = asyncio.ensure_future(start())
            future.add_done_callback(lambda _: running.pop(key, None))
        return future


def live_row_html(request: Request, person: PersonRow) -> str:
    view = RowViews(request.app, request.app.state.service).of(person)
    return render_block(request, TEMPLATE, "live_update", one_row(view, oob=True))


# How soon a browser reconnects after the stream broke (e.g. a restart): the SSE `retry:`.
LIVE_RETRY_MS = 2000
# A stream whose feed cannot read the history this long ends (the browser comes back).
FEED_START_SECONDS = 10
# A reconnecting stream replays at most this many history rows (newest cursor wins).
CATCH_UP_LIMIT = 2000


def _last_event_id(request: Request) -> int | None:
    """The history id the client last saw; None for a fresh stream or an id no history row
    can have (out of the column's range, or not plain digits)."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or ""
    return 0 if raw == "0" else id_from(raw)


async def _changed_while_away(db, organisation_id: int, resume: int) -> list[int]:
    """Instances with history after the client's last event id, each once, oldest change first.
    Looks back LOOK_BACK ids, as the feed does, for rows that committed after a higher id."""
    rows = await people.organisation_changes_after(db, organisation_id, max(0, resume - LOOK_BACK), CATCH_UP_LIMIT)
    return list(dict.fromkeys(row["instance"] for row in rows))


def live_rows(app: Litestar) -> LiveRows:
    rows = app.state.get("live_rows")
    if rows is None:
        rows = app.state["live_rows"] = LiveRows()
    return rows


def expiry_events(service: FlowService) -> frozenset[str]:
    """The events of the invitation's expiry timers, whose due time the table shows."""
    return service.registry.onboarding_timer_events("expiry")


def mail_limit_message(exc: MailLimitReached) -> str:
    """Why an admin's action was refused by a mail limit (LIM-1), in words for the admin."""
    if isinstance(exc, RecipientLimitReached):
        return ngettext(
            "An diese E-Mail-Adresse wurde in den letzten 24 Stunden bereits %(count)d E-Mail "
            "aus der Nutzerverwaltung verschickt. Damit niemand mit E-Mails überhäuft wird, geht heute "
            "keine weitere an diese Adresse. Bitte versuchen Sie es morgen noch einmal.",
            "An diese E-Mail-Adresse wurden in den letzten 24 Stunden bereits %(count)d E-Mails "
            "aus der Nutzerverwaltung verschickt. Damit niemand mit E-Mails überhäuft wird, geht heute "
            "keine weitere an diese Adresse. Bitte versuchen Sie es morgen noch einmal.",
            exc.limit,
        ) % {"count": exc.limit}
    return ngettext(
        "Sie haben in der letzten Stunde bereits %(count)d Einladung oder Registrierungslink verschickt. "
        "Bitte versuchen Sie es später noch einmal.",
        "Sie haben in der letzten Stunde bereits %(count)d Einladungen oder Registrierungslinks verschickt. "
        "Bitte versuchen Sie es später noch einmal.",
        exc.limit,
    ) % {"count": exc.limit}


def state_choices(service: FlowService) -> list[tuple[str, str]]:
    flow = service.registry.onboarding()
    return [(s.name, s.label) for s in flow.definition.states.values() if not s.initial]


class UsersController(Controller):
    path = "/nutzerverwaltung"

    @get("/", name="users")
    async def table(
        self, request: HTMXRequest, q: FromQuery[str] = "", status: FromQuery[str] = "",
        sort: FromQuery[str] = "newest", cursor: FromQuery[str] = "",
    ) -> Response:
        admin = await require_admin(request)
        service: FlowService = request.app.state.service
        sort = sort if sort in people.SORTS else "newest"
        status = status if status in dict(state_choices(service)) else ""
        result = await people.list_page(
            service.db, admin.organisation_id, state=status or None, search=q[:100], sort=sort, cursor=cursor or None,
            expiry_events=expiry_events(service),
        )
        context = {
            "rows_html": rows_html(request, result.rows),
            "empty": not result.rows,
            "next_cursor": result.next_cursor,
            "filters": {"q": q[:100], "status": status, "sort": sort},
            "cursor": cursor,
            "states": state_choices(service),
            "admin": admin,
        }
        if wants_fragment(request):
            return fragment(request, TEMPLATE, "table", context)
        return page(TEMPLATE, context)

    @get("/neu", name="users_new")
    async def new_form(self, request: HTMXRequest) -> Response:
        await require_admin(request)
        context = {"values": {**dict.fromkeys(INVITE_FIELDS, ""), "invitation_language": "de"}, "errors": {},
                   "salutations": SALUTATIONS}
        if wants_fragment(request):
            return fragment(request, FORM_TEMPLATE, "dialog", context)
        return page(FORM_TEMPLATE, context)

    @post("/", name="users_create")
    async def create(self, request: HTMXRequest) -> Response:
        admin = await require_admin(request)
        service: FlowService = request.app.state.service
        form = validate_invitation(await read_form(request, INVITE_FIELDS), request.app.state.settings.language_list())
        if not form.ok:
            return self._form_again(request, form, HTTP_422_UNPROCESSABLE_ENTITY)
        values = dict(form.values)
        person = Person(language=values.pop("invitation_language"), **values)
        try:
            record = await invite(
                service, admin.organisation_id, person, actor_of(admin), client_ip(request),
                MailLimits.from_settings(request.app.state.settings),
            )
        except AlreadyInvited as exc:
            form.errors["email"] = (
                _("Für diese E-Mail-Adresse gibt es bereits eine Einladung oder einen Zugang in Ihrer Organisation.")
            )
            return self._form_again(request, form, HTTP_409_CONFLICT, existing=exc)
        except MailLimitReached as exc:
            form.errors["_form" if isinstance(exc, InviteLimitReached) else "email"] = mail_limit_message(exc)
            return self._form_again(request, form, HTTP_429_TOO_MANY_REQUESTS)
        if not wants_fragment(request):
            return Redirect(request.app.route_reverse("users"), status_code=303)
        created = await people.one(service.db, admin.organisation_id, record.id, expiry_events=expiry_events(service))
        return fragment(
            request, TEMPLATE, "created", one_row(row_view(request, created)),
            trigger="person-invited",
        )

    def _form_again(self, request: HTMXRequest, form: FormResult, status: int, existing: AlreadyInvited | None = None) -> Response:
        context = {"values": form.values, "errors": form.errors, "salutations": SALUTATIONS, "existing": existing}
        if wants_fragment(request):
            return fragment(request, FORM_TEMPLATE, "form", context, status_code=status)
        return page(FORM_TEMPLATE, context, status_code=status)

    @get("/{instance_id:int}", name="user_detail")
    async def detail(self, request: HTMXRequest, instance_id: FromPath[int]) -> Response:
        admin = await require_admin(request)
        service: FlowService = request.app.state.service
        person = await people.one(service.db, admin.organisation_id, instance_id, expiry_events=expiry_events(service))
        if person is None:
            raise NotFoundException()
        flow = service.registry.get(person.flow_name, person.flow_version)
        event_labels = {t.event: t.label for t in flow.definition.transitions}
        invitee = await people.account_of(service.db, instance_id)
        timeline = [
            {**entry, "who": actor_label(entry["actor"], invitee)} if entry["kind"] == "transition" else entry
            for entry in await _timeline(service.db, instance_id)
        ]
        context = {
            "row": row_view(request, person),
            "timeline": timeline,
            "mails": await people.mails(service.db, instance_id),
            "explain_mail_failure": mail_failures.explain,
            "event_labels": event_labels,
            "state_labels": {s.name: s.label for s in flow.definition.states.values()},
        }
        return page("user_detail.html", context)

    @get("/{instance_id:int}/aktionen", name="user_actions")
    async def actions(self, request: HTMXRequest, instance_id: FromPath[int]) -> Response:
        """The row's allowed actions, loaded when the admin opens "Aktionen" (htmx); the page
        itself carries none. Without JavaScript the link leads to the detail page's actions."""
        admin = await require_admin(request)
        service: FlowService = request.app.state.service
        person = await people.one(service.db, admin.organisation_id, instance_id, expiry_events=expiry_events(service))
        if person is None:
            raise NotFoundException()
        view = row_view(request, person)
        if not wants_fragment(request):
            return Redirect(f"{view.url}#aktionen", status_code=303)
        return fragment(request, TEMPLATE, "actions", {"row": view})

    @post("/{instance_id:int}/{event:str}", name="user_event")
    async def run_event(self, request: HTMXRequest, instance_id: FromPath[int], event: FromPath[str]) -> Response:
        admin = await require_admin(request)
        service: FlowService = request.app.state.service
        person = await people.one(service.db, admin.organisation_id, instance_id, expiry_events=expiry_events(service))
        if person is None:
            raise NotFoundException()
        view = row_view(request, person)
        transition = next((t for t in view.actions if t.event == event), None)
        form = await read_form(request, ("confirmed",))
        if transition is None or not form.ok:
            return self._row_or_redirect(request, view, status_code=HTTP_409_CONFLICT)
        try:
            if transition.confirm and form.values["confirmed"] != "1":
                await admin_rules.check(service, admin.account_id, admin.organisation_id, instance_id, event)
                return page("users_confirm.html", {"row": view, "transition": transition})
            await admin_rules.send_as_admin(
                service, admin.account_id, admin.organisation_id, instance_id, event, actor_of(admin), client_ip(request),
                mail_limits=MailLimits.from_settings(request.app.state.settings),
            )
        except admin_rules.AdminActionRefused as exc:
            return self._refused(request, view, exc.message)
        except MailLimitReached as exc:
            return self._row_or_redirect(request, view, status_code=HTTP_429_TOO_MANY_REQUESTS, notice=mail_limit_message(exc))
        except (EventNotAllowed, InstanceNotFound):
            person = await people.one(service.db, admin.organisation_id, instance_id, expiry_events=expiry_events(service))
            if person is None:
                raise NotFoundException() from None
            return self._row_or_redirect(request, row_view(request, person), status_code=HTTP_409_CONFLICT)
        person = await people.one(service.db, admin.organisation_id, instance_id, expiry_events=expiry_events(service))
        return self._row_or_redirect(request, row_view(request, person))

    def _refused(self, request: HTMXRequest, view: RowView, message: str) -> Response:
        """409: the action conflicts with the organisation keeping an admin (SES-7)."""
        if wants_fragment(request):
            return fragment(request, TEMPLATE, "refused", one_row(view, message=message), status_code=HTTP_409_CONFLICT)
        return page("users_refused.html", {"row": view, "message": message}, status_code=HTTP_409_CONFLICT)

    def _row_or_redirect(self, request: HTMXRequest, view: RowView, status_code: int = 200, notice: str = "") -> Response:
        if wants_fragment(request):
            return fragment(request, TEMPLATE, "rows", one_row(view, notice=notice), status_code=status_code)
        if status_code >= 400:
            return page("users_conflict.html", {"row": view, "notice": notice}, status_code=status_code)
        return Redirect(request.app.route_reverse("users"), status_code=303)

    @post("/{instance_id:int}/mail/{outbox_id:int}/erneut-senden", name="user_mail_retry")
    async def retry_mail(self, request: HTMXRequest, instance_id: FromPath[int], outbox_id: FromPath[int]) -> Response:
        """A mail marked "Versand fehlgeschlagen" goes out again (only this organisation's)."""
        admin = await require_admin(request)
        if not (await read_form(request, ())).ok:
            raise NotFoundException()
        service: FlowService = request.app.state.service
        if await people.one(service.db, admin.organisation_id, instance_id, expiry_events=expiry_events(service)) is None:
            raise NotFoundException()
        if not await retry_failed(service.db, outbox_id, admin.organisation_id, service.clock.now()):
            # A second click (or one from another tab) finds the mail on its way again: harmless.
            if not await mail_of(service.db, outbox_id, admin.organisation_id, instance_id):
                raise NotFoundException()
            return Redirect(request.app.route_reverse("user_detail", instance_id=instance_id), status_code=303)
        await service.db.write([audit_step("mail_retry", service.clock.now(), actor=actor_of(admin),
                                           organisation_id=admin.organisation_id, instance_id=instance_id,
                                           client_ip=client_ip(request), details={"outbox": outbox_id})])
        return Redirect(request.app.route_reverse("user_detail", instance_id=instance_id), status_code=303)

    @get("/live", name="users_live")
    async def live(self, request: Request) -> ServerSentEvent:
        """Changed rows as SSE. Each event carries the history cursor as its id; a client
        that reconnects (Last-Event-ID, or `last_event_id` from our own reconnect after an
        error answer, see static/js/portal.js) first gets every row that changed meanwhile.
        The session is checked again before every event and at every keep-alive; the stream
        closes once it has ended (logout, "Überall abmelden", timeouts, lock, device reset or
        loss) (SES-9). The browser's reconnect then gets 401."""
        admin = await require_admin(request)
        service: FlowService = request.app.state.service
        feed = request.app.state.live_feed
        checks = request.app.state.session_checks
        keepalive = request.app.state.live_keepalive_seconds
        organisation_id = admin.organisation_id
        rows = live_rows(request.app)
        resume = _last_event_id(request)

        def row_event(html: str, cursor: int) -> ServerSentEventMessage:
            return ServerSentEventMessage(data=html, event="row", id=cursor)

        async def events() -> AsyncGenerator[ServerSentEventMessage, None]:
            queue = feed.subscribe(organisation_id)
            LIVE_STREAMS.inc()
            try:
                # Every change after the feed's cursor reaches this queue; the client keeps
                # the cursor as its last event id.
                await asyncio.wait_for(feed.ready.wait(), FEED_START_SECONDS)
                cursor = feed.cursor
                yield ServerSentEventMessage(data=str(cursor), event="cursor", id=cursor, retry=LIVE_RETRY_MS)
                if resume is not None:
                    for instance_id in await _changed_while_away(service.db, organisation_id, resume):
                        person = await people.one(service.db, organisation_id, instance_id, expiry_events=expiry_events(service))
                        if person is not None:
                            yield row_event(live_row_html(request, person), cursor)
                # From here on every change reaches this stream: a client (or a test) that
                # waits for this event before changing something cannot miss the change.
                yield ServerSentEventMessage(data="bereit", event="ready")
                while True:
                    try:
                        instance_id = await asyncio.wait_for(queue.get(), timeout=keepalive)
                    except asyncio.TimeoutError:
                        if not await checks.alive(admin.id):
                            return
                        yield ServerSentEventMessage(comment="keep-alive")
                        continue
                    # The row is read and rendered while the session is checked: no added latency.
                    html, alive = await asyncio.gather(
                        rows.html(request, service, organisation_id, instance_id, feed.generation), checks.alive(admin.id)
                    )
                    if not alive:
                        return
                    if html is not None:
                        yield row_event(html, max(cursor, feed.cursor))
            finally:
                LIVE_STREAMS.dec()
                feed.unsubscribe(organisation_id, queue)

        return ServerSentEvent(events(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# Security events the person's admins see in the timeline (PIN-6).
TIMELINE_SECURITY_EVENTS = ("login_not_me", "login_number_wrong")


async def _timeline(db, instance_id: int) -> list[dict]:
    """Transitions and the person's security events, in the order they happened."""
    entries = [{"kind": "transition", **row} for row in await people.timeline(db, instance_id)]
    entries += [{"kind": "security", **row} for row in await people.security_events(db, instance_id, TIMELINE_SECURITY_EVENTS)]
    return sorted(entries, key=lambda entry: entry["created_at"])
