"""The scheduler's retention job: delete what is older than its retention setting."""

from __future__ import annotations

import logging

from db import retention
from db.outage import is_outage
from core.settings import Settings

log = logging.getLogger(__name__)


def retention_days(settings: Settings) -> dict[str, int]:
    return {rule.setting: getattr(settings, rule.setting) for rule in retention.RULES}


async def purge_expired_data(db, settings: Settings, clock) -> dict[str, int]:
    try:
        deleted = await retention.purge_all(db, retention_days(settings), clock.now())
    except Exception as exc:  # the next run catches up
        if is_outage(exc):
            log.warning("Retention: database unavailable (%s); it will run again", type(exc).__name__)
        else:
            log.error("Retention failed; it will run again", exc_info=exc)
        return {}
    if any(deleted.values()):
        log.info("Retention: deleted %s", ", ".join(f"{count} {name}" for name, count in deleted.items() if count))
    return deleted
