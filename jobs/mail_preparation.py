"""What the outbox dispatcher reads and renders for a claimed batch: a few statements for
the whole batch (instances, newer invitations, expiry timers), not a handful per mail.

Each mail comes out as a `Prepared`: the rendered mail and the statements that issue its
link, or why it is not sent (`cancelled`), or the error that kept it from being prepared
(`error`, retried like a temporary failure). Mails that carry a link get a fresh token
here; only its hash is stored (LOG-2)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from piccolo.query.functions.aggregate import Max

from db import links
from db.engine import Database
from db.tables import FlowInstance, Outbox, Timer
from mail.rendering import LINK_KINDS, MailValues, RenderedMail, render_mail
from workflows import publication
from workflows.definition import MissingRole
from workflows.durations import format_hours
from workflows.engine import Flow
from workflows.registry import FlowRegistry, UnknownFlow


@dataclass
class Prepared:
    row: dict
    mail: RenderedMail | None = None
    link: links.NewLink | None = None  # the link the mail carries, stored before it is sent
    cancelled: str = ""  # why the mail is not sent at all
    error: Exception | None = None


@dataclass(frozen=True)
class _Batch:
    """What the batch's statements found, by instance id."""

    instances: dict[int, dict]
    newest_invitation: dict[int, int]
    expiry_due: dict[int, dict[str, datetime]]


async def prepare_batch(dispatcher, rows: list[dict], now: datetime) -> list[Prepared]:
    """Every claimed row, prepared; database errors propagate (the lease gives the batch back)."""
    batch = await _read(dispatcher.db, dispatcher.registry, rows)
    prepared = []
    for row in rows:
        try:
            prepared.append(_prepare(dispatcher, batch, row, now))
        except Exception as exc:  # e.g. a broken template: this mail only
            prepared.append(Prepared(row, error=exc))
    return prepared


async def _read(db: Database, registry: FlowRegistry, rows: list[dict]) -> _Batch:
    instance_ids = sorted({row["instance"] for row in rows if row["instance"] and row["recipient"]})
    instances = await _instances(db, instance_ids)
    for name, version in {(i["flow_name"], i["flow_version"]) for i in instances.values()}:
        # Started on a version another process published a moment ago.
        await publication.ensure_known(db, registry, name, version)
    linked = sorted({row["instance"] for row in rows if row["kind"] in LINK_KINDS and row["instance"] in instances})
    expiry_events = set()
    for instance_id in linked:
        flow = _flow_of(registry, instances[instance_id])
        if flow is not None:
            try:
                expiry_events |= _expiry_events(flow)
            except MissingRole:  # that mail fails alone, in _prepare
                pass
    return _Batch(
        instances=instances,
        newest_invitation=await _newest_invitations(db, linked),
        expiry_due=await _expiry_due(db, linked, expiry_events),
    )


async def _instances(db: Database, ids: list[int]) -> dict[int, dict]:
    if not ids:
        return {}
    rows = await db.fetch(
        FlowInstance.select(
            FlowInstance.id, FlowInstance.flow_name, FlowInstance.flow_version, FlowInstance.state,
            FlowInstance.organisation.name.as_alias("organisation_name"),
            FlowInstance.account.role.as_alias("role"), FlowInstance.account.language.as_alias("language"),
        ).where(FlowInstance.id.is_in(ids))
    )
    return {row["id"]: row for row in rows}


async def _newest_invitations(db: Database, instance_ids: list[int]) -> dict[int, int]:
    """The newest invitation mail per instance: a resend supersedes older, unsent ones."""
    if not instance_ids:
        return {}
    rows = await db.fetch(
        Outbox.select(Outbox.instance, Max(Outbox.id, alias="newest"))
        .where(Outbox.instance.is_in(instance_ids) & (Outbox.kind == "invitation"))
        .group_by(Outbox.instance)
    )
    return {row["instance"]: row["newest"] for row in rows}


async def _expiry_due(db: Database, instance_ids: list[int], events: set[str]) -> dict[int, dict[str, datetime]]:
    """The latest due time of each pending expiry timer, by instance and event."""
    if not instance_ids or not events:
        return {}
    rows = await db.fetch(
        Timer.select(Timer.instance, Timer.event, Timer.due_at).where(
            Timer.instance.is_in(instance_ids) & Timer.event.is_in(sorted(events)) & (Timer.status == "pending")
        )
    )
    due: dict[int, dict[str, datetime]] = {}
    for row in rows:
        events_of = due.setdefault(row["instance"], {})
        if row["event"] not in events_of or row["due_at"] > events_of[row["event"]]:
            events_of[row["event"]] = row["due_at"]
    return due


def _prepare(dispatcher, batch: _Batch, row: dict, now: datetime) -> Prepared:
    kind, settings, registry = row["kind"], dispatcher.settings, dispatcher.registry
    if not row["recipient"]:
        return Prepared(row, cancelled="Keine Empfängeradresse (Daten gelöscht).")
    instance = batch.instances.get(row["instance"]) if row["instance"] else None
    values = MailValues(
        portal_name=settings.portal_name,
        portal_name_gender=settings.portal_name_gender,
        primary_color=settings.brand_primary_color,
        organisation_name=instance["organisation_name"] if instance else "",
        role=instance["role"] if instance else "",
        validity_hours=_validity_hours(registry, instance),
        event_at=row["created_at"],
        language=(instance or {}).get("language") or "de",
    )
    if kind not in LINK_KINDS:
        return Prepared(row, mail=render_mail(kind, values))
    if instance is None:
        return Prepared(row, cancelled="Keine Einladung zu dieser E-Mail.")
    if batch.newest_invitation.get(instance["id"], 0) > row["id"]:
        return Prepared(row, cancelled="Durch eine neuere Einladung ersetzt.")
    flow = _flow_of(registry, instance)
    if flow is None or not flow.has_role(instance["state"], "link_open"):
        return Prepared(row, cancelled="Die Einladung ist nicht mehr offen.")
    expiry = flow.timer_for("expiry")
    running = [due for event, due in batch.expiry_due.get(instance["id"], {}).items() if event in _expiry_events(flow)]
    # The invitation's expiry while it runs; after a device reset (no expiry running)
    # the flow's validity from now (as db.links.link_expiry decides for one instance).
    expires_at = max(running) if running else now + expiry.after
    if expires_at <= now:
        return Prepared(row, cancelled="Die Einladung ist nicht mehr offen.")
    token = links.new_token()
    link = f"{settings.base_url.rstrip('/')}/einladung/{dispatcher.signer.sign('invitation-link', token)}"
    mail = render_mail(kind, replace(values, link=link, expires_at=expires_at))
    return Prepared(row, mail=mail, link=links.NewLink(instance["id"], token, now, expires_at))


def _expiry_events(flow: Flow) -> set[str]:
    return {flow.timer_for("expiry").event}


def _flow_of(registry: FlowRegistry, instance: dict | None) -> Flow | None:
    if instance is None:
        return None
    try:
        return registry.get(instance["flow_name"], instance["flow_version"])
    except UnknownFlow:
        return None


def _validity_hours(registry: FlowRegistry, instance: dict | None) -> int | None:
    """The invitation's validity as the instance's own flow version defines it (720 h)."""
    flow = _flow_of(registry, instance)
    try:
        return format_hours(flow.timer_for("expiry").after) if flow else None
    except MissingRole:  # a stored version without roles whose ids the current file no longer has
        return None
