"""The registration wizard (manual sections 3 and 4). The step shown always follows
the instance's state in the database: a skipped or replayed step redirects (GET)
or answers 409 (POST) (SES-3)."""

from __future__ import annotations

import re

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_422_UNPROCESSABLE_ENTITY

from db import activation, instances, people
from db.engine import Step
from db.name_order import name_key
from db.sessions import SessionInfo
from db.tables import Account
from core.crypto import group_code
from web.auth import client_ip, current_session
from web.forms import SALUTATIONS, check_name, has_control_characters, read_form
from web.rendering import client_redirect, page, render_block, wants_fragment
from workflows.engine import EventNotAllowed, Flow
from workflows.service import FlowService, TransitionConflict
from workflows.twofactor import Limits, issue_code
from core.i18n import _, lazy_gettext

PROFILE_FIELDS = ("salutation", "first_name", "last_name", "phone")
PHONE = re.compile(r"^\+?[0-9 ()/-]{5,40}$")

# Wizard steps: route name, title. The device step has three pages without a state change.
STEPS = [
    ("registration_profile", lazy_gettext("Persönliche Daten")),
    ("registration_device", lazy_gettext("Geräteregistrierung")),
    ("registration_app", "App herunterladen"),
    ("registration_activation", "Aktivierung"),
    ("registration_done", "Abschluss"),
]
DEVICE_PAGES = {"registration_device", "registration_app", "registration_activation"}
# The wizard page of each state role (workflows/roles.py), in the order they are asked.
STEP_OF_ROLE = (
    ("profile_step", "registration_profile"),
    ("device_step", "registration_device"),
    ("registration_done", "registration_done"),
)


async def require_registration(request: Request) -> SessionInfo:
    info = await current_session(request)
    if info is None or info.kind != "registration" or info.instance_id is None:
        raise NotAuthorizedException("registration session required")
    return info


def current_step(flow: Flow, state: str) -> str | None:
    """The wizard page for the state, or None where the registration cannot go on
    (expired, revoked, locked, deleted in the shipped flow)."""
    return next((step for role, step in STEP_OF_ROLE if flow.has_role(state, role)), None)


def step_allowed(flow: Flow, state: str, step: str) -> bool:
    current = current_step(flow, state)
    return step == current or (current == "registration_device" and step in DEVICE_PAGES)


class RegistrationController(Controller):
    path = "/registrierung"

    async def _load(self, request: Request) -> tuple[SessionInfo, instances.InstanceRecord]:
        info = await require_registration(request)
        record = await instances.load(request.app.state.db, info.instance_id, info.organisation_id)
        if record is None:
            raise NotAuthorizedException("registration gone")
        return info, record

    def _context(self, step: str, record, **extra) -> dict:
        index = [name for name, _ in STEPS].index(step)
        return {"steps": STEPS, "step_index": index, "state": record.state, **extra}

    async def _guard(self, request: Request, step: str, post_request: bool = False):
        info, record = await self._load(request)
        flow = request.app.state.service.flow_of(record)
        if step_allowed(flow, record.state, step):
            return info, record, None
        target = current_step(flow, record.state)
        if target is None:
            return info, record, page("registration_closed.html", {}, status_code=HTTP_409_CONFLICT)
        if post_request:
            return info, record, page(
                "registration_conflict.html", {"target": target}, status_code=HTTP_409_CONFLICT
            )
        return info, record, Redirect(request.app.route_reverse(target), status_code=303)

    @get("/", name="registration")
    async def start(self, request: Request) -> Response:
        _, record = await self._load(request)
        target = current_step(request.app.state.service.flow_of(record), record.state)
        if target is None:
            return page("registration_closed.html", {}, status_code=HTTP_409_CONFLICT)
        return Redirect(request.app.route_reverse(target), status_code=303)

    # -- 1. personal data -----------------------------------------------------

    @get("/daten", name="registration_profile")
    async def profile(self, request: Request) -> Response:
        info, record, redirect = await self._guard(request, "registration_profile")
        if redirect:
            return redirect
        account = await request.app.state.db.fetch_one(Account.select().where(Account.id == info.account_id))
        values = {name: account[name] or "" for name in PROFILE_FIELDS}
        return page("registration_profile.html", self._context(
            "registration_profile", record, values=values, errors={}, email=account["email"], salutations=SALUTATIONS))

    @post("/daten", name="registration_profile_save")
    async def save_profile(self, request: Request) -> Response:
        info, record, conflict = await self._guard(request, "registration_profile", post_request=True)
        if conflict:
            return conflict
        form = await read_form(request, PROFILE_FIELDS)
        v, errors = form.values, form.errors
        if "salutation" not in errors and v["salutation"] not in SALUTATIONS:
            errors["salutation"] = _("Bitte wählen Sie eine Anrede aus.")
        for name in ("first_name", "last_name"):
            if name not in errors and (problem := check_name(v[name], name)):
                errors[name] = problem
        if "phone" not in errors and v["phone"] and (has_control_characters(v["phone"]) or not PHONE.match(v["phone"])):
            errors["phone"] = _("Bitte geben Sie eine Telefonnummer nur mit Ziffern, Leerzeichen und + - / ( ) ein.")
        account = await request.app.state.db.fetch_one(Account.select(Account.email).where(Account.id == info.account_id))
        if errors:
            return page("registration_profile.html", self._context(
                "registration_profile", record, values=v, errors=errors, email=account["email"], salutations=SALUTATIONS),
                status_code=HTTP_422_UNPROCESSABLE_ENTITY)
        service: FlowService = request.app.state.service
        update = Step(Account.update({
            Account.salutation: v["salutation"], Account.first_name: v["first_name"],
            Account.last_name: v["last_name"], Account.phone: v["phone"],
            Account.name_key: name_key(v["first_name"], v["last_name"]),
        }).where(Account.id == info.account_id))
        try:
            await service.send(
                record.id, service.flow_of(record).event_for("profile_saved"), actor=f"account:{info.account_id}", client_ip=client_ip(request),
                data={"first_name": v["first_name"], "last_name": v["last_name"]}, extra_steps=[update],
            )
        except (EventNotAllowed, TransitionConflict):
            return page("registration_conflict.html", {"target": "registration"}, status_code=HTTP_409_CONFLICT)
        return Redirect(request.app.route_reverse("registration_device"), status_code=303)

    # -- 2.-4. device registration ------------------------------------------------

    @get("/geraet", name="registration_device")
    async def device(self, request: Request) -> Response:
        _, record, redirect = await self._guard(request, "registration_device")
        return redirect or page("registration_device.html", self._context("registration_device", record))

    @get("/app", name="registration_app")
    async def app_download(self, request: Request) -> Response:
        _, record, redirect = await self._guard(request, "registration_app")
        return redirect or page("registration_app.html", self._context("registration_app", record))

    @get("/aktivierung", name="registration_activation")
    async def activation(self, request: HTMXRequest) -> Response:
        info, record, redirect = await self._guard(request, "registration_activation")
        if redirect:
            return redirect
        return page("registration_activation.html", self._context(
            "registration_activation", record, code=None, username=info.email))

    @post("/aktivierung", name="registration_code")
    async def show_code(self, request: HTMXRequest) -> Response:
        """Shows a new code: only in this response, since the database keeps only its hash."""
        info, record, conflict = await self._guard(request, "registration_activation", post_request=True)
        if conflict:
            return conflict
        form = await read_form(request, ())
        if not form.ok:
            return page("registration_conflict.html", {"target": "registration"}, status_code=HTTP_409_CONFLICT)
        settings = request.app.state.settings
        code = await issue_code(
            request.app.state.service, record.id, f"account:{info.account_id}", client_ip(request), Limits.from_settings(settings)
        )
        return page("registration_activation.html", self._context(
            "registration_activation", record, code=group_code(code), username=info.email,
            valid_minutes=settings.activation_code_minutes))

    @get("/status", name="registration_status")
    async def status(self, request: HTMXRequest) -> Response:
        """Polled by the activation page: once the app has activated, move on."""
        _, record = await self._load(request)
        flow = request.app.state.service.flow_of(record)
        if flow.has_role(record.state, "registration_done"):
            target = request.app.route_reverse("registration_done")
            if wants_fragment(request):
                return client_redirect(target)
            return Redirect(target, status_code=303)
        if wants_fragment(request):
            dead = await self._dead_code(request, record) if request.query_params.get("code") == "1" else None
            if dead is None:
                return Response("", status_code=204)
            # Out-of-band: the dead code gives way to the advice, and the poll stops asking.
            context = {"dead_reason": dead, "oob": True}
            html = "".join(render_block(request, "registration_activation.html", block, context) for block in ("code_area", "poller"))
            return Response(html, media_type=MediaType.HTML, headers={"Vary": "HX-Request"})
        return Redirect(request.app.route_reverse(current_step(flow, record.state) or "registration"), status_code=303)

    async def _dead_code(self, request: Request, record) -> str | None:
        """'used_up' or 'timed_out' when the newest code can no longer be used, else None."""
        settings = request.app.state.settings
        state = await activation.latest_code_state(
            request.app.state.db, record.id, request.app.state.clock.now(), settings.activation_code_attempts)
        return state if state in ("used_up", "timed_out") else None

    # -- 5. done --------------------------------------------------------------------

    @get("/glueckwunsch", name="registration_done")
    async def done(self, request: Request) -> Response:
        info, record, redirect = await self._guard(request, "registration_done")
        if redirect:
            return redirect
        expiry_events = request.app.state.registry.onboarding_timer_events("expiry")
        person = await people.one(request.app.state.db, info.organisation_id, record.id, expiry_events=expiry_events)
        return page("registration_done.html", self._context("registration_done", record, person=person))
