"""The Nutzerverwaltung at 100 000 people: the accepted document versions stamped on the
session row (one statement per request reads session and consent)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T16:09:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "consent stamp on sessions"

# Sessions from before this migration have an empty stamp: their first request recomputes
# it from the consent records (web/auth.py), so nobody is asked again for nothing.
STATEMENTS = [
    "ALTER TABLE web_session ADD COLUMN consented TEXT NOT NULL DEFAULT ''",
]


async def _run() -> None:
    # One raw step, so the statements run in this order (Piccolo runs raw steps first).
    from db.piccolo_conf import DB

    for statement in STATEMENTS:
        await DB.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_run)
    return manager
