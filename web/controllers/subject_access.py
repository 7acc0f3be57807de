"""Auskunft (GDPR Art. 15): an admin gets everything stored about a person of their own
organisation, as a readable page and as JSON (db/subject_access.py decides what)."""

from __future__ import annotations

import json

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from db import subject_access
from db.audit import audit_step
from web.auth import actor_of, client_ip, require_admin
from web.rendering import page
from core.i18n import lazy_gettext

# German headings and column names of the readable page.
SECTIONS = {
    "history": lazy_gettext("Verlauf"), "timers": lazy_gettext("Geplante Ereignisse"), "mails": lazy_gettext("E-Mails"), "consent_records": lazy_gettext("Einwilligungen"),
    "devices": lazy_gettext("Geräte"), "login_requests": lazy_gettext("Anmeldeanfragen"), "sessions": lazy_gettext("Sitzungen"),
    "security_events": lazy_gettext("Sicherheitsereignisse"),
}
COLUMNS = {
    "organisation": lazy_gettext("Organisation"), "role": lazy_gettext("Rolle"), "salutation": lazy_gettext("Anrede"), "first_name": lazy_gettext("Vorname"),
    "last_name": lazy_gettext("Nachname"), "email": lazy_gettext("E-Mail"), "phone": lazy_gettext("Telefon"), "created_at": lazy_gettext("Zeitpunkt"),
    "event": lazy_gettext("Ereignis"), "from_state": lazy_gettext("von"), "to_state": lazy_gettext("nach"), "actor": lazy_gettext("durch"), "client_ip": lazy_gettext("IP-Adresse"),
    "due_at": lazy_gettext("fällig"), "status": lazy_gettext("Status"), "fired_at": lazy_gettext("ausgelöst"), "kind": lazy_gettext("Art"), "recipient": lazy_gettext("Empfänger"),
    "attempts": lazy_gettext("Versuche"), "sent_at": lazy_gettext("versendet"), "last_error": lazy_gettext("Fehler"), "document": lazy_gettext("Dokument"),
    "version": lazy_gettext("Version"), "action": lazy_gettext("Aktion"), "text_sha256": lazy_gettext("Prüfsumme des Textes"), "public_id": lazy_gettext("Gerät"),
    "pin_failures": lazy_gettext("falsche PINs"), "locked_at": lazy_gettext("gesperrt"), "revoked_at": lazy_gettext("entfernt"),
    "last_seen_at": lazy_gettext("zuletzt aktiv"), "ended_at": lazy_gettext("beendet"), "flow_name": lazy_gettext("Ablauf"), "flow_version": lazy_gettext("Ablauf-Version"),
    "state": lazy_gettext("Status"), "context": lazy_gettext("Daten des Ablaufs"), "updated_at": lazy_gettext("geändert"), "id": lazy_gettext("Nummer"),
}


async def _export(request: Request, instance_id: int) -> dict:
    admin = await require_admin(request)
    db = request.app.state.db
    account_id = await subject_access.account_of_instance(db, instance_id, admin.organisation_id)
    if account_id is None:
        raise NotFoundException()
    data = await subject_access.person_data(db, account_id)
    # Who looked is itself recorded (the export holds personal data).
    await db.write([audit_step("subject_access", request.app.state.clock.now(), actor=actor_of(admin),
                               organisation_id=admin.organisation_id, instance_id=instance_id, client_ip=client_ip(request))])
    return data


def _labelled(request: Request, data: dict) -> dict:
    """For the readable page: states and events as the flow file labels them."""
    registry = request.app.state.registry
    for invitation in data["invitations"]:
        try:
            flow = registry.get(invitation["flow_name"], invitation["flow_version"]).definition
        except LookupError:
            continue
        states = {name: state.label for name, state in flow.states.items()}
        events = {t.event: t.label for t in flow.transitions if t.label}
        invitation["state"] = states.get(invitation["state"], invitation["state"])
        for entry in invitation["history"]:
            entry["event"] = events.get(entry["event"], entry["event"])
            entry["from_state"] = states.get(entry["from_state"], entry["from_state"])
            entry["to_state"] = states.get(entry["to_state"], entry["to_state"])
    return data


@get("/nutzerverwaltung/{instance_id:int}/auskunft", name="user_export")
async def export_page(request: Request, instance_id: FromPath[int]) -> Response:
    data = _labelled(request, await _export(request, instance_id))
    return page("user_export.html", {"data": data, "instance_id": instance_id, "sections": SECTIONS, "columns": COLUMNS})


@get("/nutzerverwaltung/{instance_id:int}/auskunft.json", name="user_export_json")
async def export_json(request: Request, instance_id: FromPath[int]) -> Response:
    data = await _export(request, instance_id)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="auskunft-{instance_id}.json"', "Cache-Control": "no-store"},
    )
