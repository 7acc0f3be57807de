"""Everything stored about a person, for a data subject's request (GDPR Art. 15,
"Auskunft"): account, invitations with states and history, consent records, devices
(without key or PIN hash), mails, login requests, sessions and security events.
Hashes of links, codes, PINs and session tokens are secrets, not information about
the person, and are left out."""

from __future__ import annotations

import json
from datetime import datetime

from db.engine import Database
from db.tables import (
    Account, AuditEvent, ConsentRecord, Device, FlowInstance, LoginChallenge, Outbox, Timer, TransitionHistory,
    WebSession,
)


def _plain(key: str, value):
    if isinstance(value, datetime):
        return value.isoformat()
    if key == "context" and isinstance(value, str):
        return json.loads(value or "{}")  # JSON columns come back as text
    return value


def _rows(rows: list[dict]) -> list[dict]:
    return [{key: _plain(key, value) for key, value in row.items()} for row in rows]


async def accounts_with_email(db: Database, email: str, organisation_id: int | None = None) -> list[int]:
    query = Account.select(Account.id).where(Account.email == email.strip().lower()).order_by(Account.id)
    if organisation_id is not None:
        query = query.where(Account.organisation == organisation_id)
    return [row["id"] for row in await db.fetch(query)]


async def person_data(db: Database, account_id: int) -> dict:
    [account] = _rows(await db.fetch(Account.select(
        Account.id, Account.organisation.name.as_alias("organisation"), Account.role, Account.salutation,
        Account.first_name, Account.last_name, Account.email, Account.phone, Account.created_at,
    ).where(Account.id == account_id)))
    invitations = _rows(await db.fetch(FlowInstance.select(
        FlowInstance.id, FlowInstance.flow_name, FlowInstance.flow_version, FlowInstance.state, FlowInstance.context,
        FlowInstance.created_at, FlowInstance.updated_at,
    ).where(FlowInstance.account == account_id).order_by(FlowInstance.id)))
    for invitation in invitations:
        invitation["history"] = _rows(await db.fetch(TransitionHistory.select(
            TransitionHistory.created_at, TransitionHistory.event, TransitionHistory.from_state, TransitionHistory.to_state,
            TransitionHistory.actor, TransitionHistory.client_ip,
        ).where(TransitionHistory.instance == invitation["id"]).order_by(TransitionHistory.id)))
        invitation["timers"] = _rows(await db.fetch(Timer.select(
            Timer.event, Timer.due_at, Timer.status, Timer.fired_at,
        ).where(Timer.instance == invitation["id"]).order_by(Timer.id)))
        invitation["mails"] = _rows(await db.fetch(Outbox.select(
            Outbox.kind, Outbox.recipient, Outbox.status, Outbox.attempts, Outbox.created_at, Outbox.sent_at, Outbox.last_error,
        ).where(Outbox.instance == invitation["id"]).order_by(Outbox.id)))
    return {
        "account": account,
        "invitations": invitations,
        "consent_records": _rows(await db.fetch(ConsentRecord.select(
            ConsentRecord.created_at, ConsentRecord.document, ConsentRecord.version, ConsentRecord.action,
            ConsentRecord.text_sha256, ConsentRecord.client_ip,
        ).where(ConsentRecord.account == account_id).order_by(ConsentRecord.id))),
        "devices": _rows(await db.fetch(Device.select(
            Device.public_id, Device.created_at, Device.pin_failures, Device.locked_at, Device.revoked_at,
        ).where(Device.account == account_id).order_by(Device.id))),
        "login_requests": _rows(await db.fetch(LoginChallenge.select(
            LoginChallenge.created_at, LoginChallenge.status, LoginChallenge.client_ip,
        ).where(LoginChallenge.account == account_id).order_by(LoginChallenge.id))),
        "sessions": _rows(await db.fetch(WebSession.select(
            WebSession.created_at, WebSession.last_seen_at, WebSession.ended_at,
        ).where(WebSession.account == account_id).order_by(WebSession.id))),
        "security_events": _rows(await db.fetch(AuditEvent.select(
            AuditEvent.created_at, AuditEvent.event, AuditEvent.client_ip,
        ).where(AuditEvent.actor == f"account:{account_id}").order_by(AuditEvent.id))),
    }


async def account_of_instance(db: Database, instance_id: int, organisation_id: int) -> int | None:
    """The account behind an invitation, only if it belongs to the organisation (SES-7)."""
    row = await db.fetch_one(
        FlowInstance.select(FlowInstance.account)
        .where((FlowInstance.id == instance_id) & (FlowInstance.organisation == organisation_id))
    )
    return row["account"] if row else None
