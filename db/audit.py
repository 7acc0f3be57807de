"""Append-only security events (LOG-1). Callers pass ids and outcomes, never secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from db.engine import Database, Step
from db.tables import AuditEvent


def audit_step(
    event: str, now: datetime, actor: str = "system", organisation_id: int | None = None,
    instance_id: int | None = None, client_ip: str = "", details: dict[str, Any] | None = None,
) -> Step:
    return Step(
        AuditEvent.insert(
            AuditEvent(
                event=event, created_at=now, actor=actor, organisation=organisation_id, instance=instance_id,
                client_ip=client_ip, details=details or {},
            )
        )
    )


async def record(db: Database, event: str, now: datetime, **kwargs) -> None:
    await db.write([audit_step(event, now, **kwargs)])
