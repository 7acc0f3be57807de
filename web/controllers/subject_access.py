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

# German headings and column names of the readable page.
SECTIONS = {
    "history": "Verlauf", "timers": "Geplante Ereignisse", "mails": "E-Mails", "consent_records": "Einwilligungen",
    "devices": "Geräte", "login_requests": "Anmeldeanfragen", "sessions": "Sitzungen",
    "security_events": "Sicherheitsereignisse",
}
COLUMNS = {
    "organisation": "Organisation", "role": "Rolle", "salutation": "Anrede", "first_name": "Vorname",
    "last_name": "Nachname", "email": "E-Mail", "phone": "Telefon", "created_at": "Zeitpunkt",
    "event": "Ereignis", "from_state": "von", "to_state": "nach", "actor": "durch", "client_ip": "IP-Adresse",
    "due_at": "fällig", "status": "Status", "fired_at": "ausgelöst", "kind": "Art", "recipient": "Empfänger",
    "attempts": "Versuche", "sent_at": "versendet", "last_error": "Fehler", "document": "Dokument",
    "version": "Version", "action": "Aktion", "text_sha256": "Prüfsumme des Textes", "public_id": "Gerät",
    "pin_failures": "falsche PINs", "locked_at": "gesperrt", "revoked_at": "entfernt",
    "last_seen_at": "zuletzt aktiv", "ended_at": "beendet", "flow_name": "Ablauf", "flow_version": "Ablauf-Version",
    "state": "Status", "context": "Daten des Ablaufs", "updated_at": "geändert", "id": "Nummer",
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
