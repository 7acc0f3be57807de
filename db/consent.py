"""Consent records (PRIV-1..3): append-only; the newest record per document decides."""

from __future__ import annotations

from datetime import datetime

from db.engine import Database, Step
from db.tables import ConsentRecord


def record_step(account_id: int, organisation_id: int, document: str, version: str, text_sha256: str,
                action: str, now: datetime, client_ip: str = "") -> Step:
    return Step(
        ConsentRecord.insert(
            ConsentRecord(
                account=account_id, organisation=organisation_id, document=document, version=version,
                text_sha256=text_sha256, action=action, created_at=now, client_ip=client_ip,
            )
        )
    )


async def history(db: Database, account_id: int) -> list[dict]:
    return await db.fetch(
        ConsentRecord.select(
            ConsentRecord.document, ConsentRecord.version, ConsentRecord.text_sha256, ConsentRecord.action,
            ConsentRecord.created_at,
        ).where(ConsentRecord.account == account_id).order_by(ConsentRecord.id)
    )


def current_consents(records: list[dict]) -> dict[str, dict]:
    """The newest record per document (given or withdrawn)."""
    latest: dict[str, dict] = {}
    for record in records:
        latest[record["document"]] = record
    return latest


def missing(records: list[dict], required: list) -> list:
    """Required documents (objects with key and version) without a valid consent."""
    latest = current_consents(records)
    return [
        doc for doc in required
        if not (r := latest.get(doc.key)) or r["action"] != "given" or r["version"] != doc.version
    ]
