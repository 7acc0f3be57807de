"""Consent at first login and after a new document version (PRIV-1..3): privacy policy
and terms are separate, unticked choices; withdrawing is one click in the profile."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY

from db import consent
from db.people import latest_instance_of
from web.auth import client_ip, require_login
from web.documents import REQUIRED, load, required_documents
from web.forms import read_form
from web.rendering import page
from workflows.engine import EventNotAllowed
from workflows.roles import EventOf
from workflows.service import TransitionConflict
from core.i18n import lazy_gettext

CHOICES = {"datenschutz": "accept_privacy", "nutzungsbedingungen": "accept_terms"}
ERRORS = {
    "datenschutz": lazy_gettext("Bitte willigen Sie in die Verarbeitung Ihrer Daten ein, um das Portal zu nutzen."),
    "nutzungsbedingungen": lazy_gettext("Bitte akzeptieren Sie die Teilnahme- und Nutzungsbedingungen, um das Portal zu nutzen."),
}


@get("/einwilligung", name="consent_form")
async def consent_page(request: Request) -> Response:
    info = await require_login(request)
    records = await consent.history(request.app.state.db, info.account_id)
    return page("consent.html", {
        "documents": required_documents(), "missing": {d.key for d in consent.missing(records, required_documents())},
        "errors": {}, "checked": set(),
    })


@post("/einwilligung", name="consent_give")
async def give_consent(request: Request) -> Response:
    info = await require_login(request)
    form = await read_form(request, tuple(CHOICES.values()))
    documents = required_documents()
    errors = dict(form.errors)
    for doc in documents:
        if form.values[CHOICES[doc.key]] != "ja" and CHOICES[doc.key] not in errors:
            errors[CHOICES[doc.key]] = ERRORS[doc.key]
    if errors:
        checked = {name for name, value in form.values.items() if value == "ja"}
        return page("consent.html", {"documents": documents, "missing": {d.key for d in documents},
                                     "errors": errors, "checked": checked}, status_code=HTTP_422_UNPROCESSABLE_ENTITY)
    db, service = request.app.state.db, request.app.state.service
    now, ip = service.clock.now(), client_ip(request)
    # Idempotent: a record (and the audit event) only where the consent changes, so a
    # parallel or repeated post, or the fallback below after losing the race, adds nothing.
    steps = consent.change_steps(db, info.account_id, info.organisation_id, documents, "given", now, ip, "consent_given",
                                 required=documents)
    instance = await latest_instance_of(db, info.account_id)
    flow = service.registry.get(instance["flow_name"], instance["flow_version"]) if instance is not None else None
    if flow is not None and flow.event_for("consent_given") in flow.events_in(instance["state"]):
        # First login: the flow moves on (with any automatic transitions after the
        # consent, e.g. to "Aktiv"), with the records in the same transaction.
        try:
            await service.send(instance["id"], EventOf("consent_given"), actor=f"account:{info.account_id}", client_ip=ip, extra_steps=steps)
        except (EventNotAllowed, TransitionConflict):
            await db.write(steps)
    else:
        await db.write(steps)
    return Redirect(request.app.route_reverse("home"), status_code=303)


@post("/profil/einwilligung/{document:str}/widerrufen", name="consent_withdraw")
async def withdraw_consent(request: Request, document: FromPath[str]) -> Response:
    """One click, effective at once (the Postfach closes), logged."""
    info = await require_login(request)
    if document not in REQUIRED:
        raise NotFoundException()
    form = await read_form(request, ())
    if not form.ok:
        raise NotFoundException()
    doc = load(document)
    now, ip = request.app.state.clock.now(), client_ip(request)
    db = request.app.state.db
    await db.write(consent.change_steps(db, info.account_id, info.organisation_id, [doc], "withdrawn", now, ip,
                                        "consent_withdrawn", required=required_documents()))
    return Redirect(request.app.route_reverse("profile"), status_code=303)


@get("/dokumente/{document:str}", name="document")
async def show_document(request: Request, document: FromPath[str]) -> Response:
    if document not in REQUIRED:
        raise NotFoundException()
    return page("document.html", {"document": load(document)})
