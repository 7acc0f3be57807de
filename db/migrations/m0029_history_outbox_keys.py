"""Cheaper history and outbox rows (issue 12, timers): every transition writes one history
row and usually an outbox row, and the timer sweep writes thousands per second.

- The foreign keys from `transition_history.organisation` and `outbox.organisation` to
  `organisation` go (PostgreSQL). Both rows are written only by the transition path
  (db/transitions.py), always with their instance's organisation, and both keep their
  foreign key to the instance (ON DELETE CASCADE), whose own key to the organisation
  cascades: deleting an organisation or an instance still removes its history and mail.
  The organisation check was about a third of the server CPU of inserting these rows
  (docs/benchmarks.md, "Issue 12, round 3"). SQLite keeps its keys: dropping one means
  rebuilding the table, and there a key check is a lookup in the same process.
- The index `transition_history (actor, event, created_at)` goes (both engines): no
  query reads it since the mail limits moved to `limit_use` (LIM-1), and every history
  row paid for it.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "no organisation keys on history and outbox rows; no unused history index"

POSTGRES = [
    "ALTER TABLE transition_history DROP CONSTRAINT IF EXISTS transition_history_organisation_fkey",
    "ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_organisation_fkey",
]


async def _run() -> None:
    from db.piccolo_conf import DB

    await DB.run_ddl("DROP INDEX IF EXISTS transition_history_actor_event")
    if DB.engine_type == "postgres":
        for statement in POSTGRES:
            await DB.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_run)
    return manager
