"""The funnel's counters and their deltas (db/funnel.py), filled from the existing history.

Raw DDL: the unique index the counters' upsert needs must follow its table, and Piccolo
runs raw steps before its own added tables within one migration."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T16:08:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "funnel counters"

COLUMNS = (
    'flow_name VARCHAR(100) NOT NULL, flow_version INTEGER NOT NULL, organisation INTEGER NOT NULL DEFAULT 0, '
    "cohort_day VARCHAR(10) NOT NULL, kind VARCHAR(20) NOT NULL, state VARCHAR(50) NOT NULL, "
    "detail VARCHAR(120) NOT NULL DEFAULT '', count INTEGER NOT NULL DEFAULT 0"
)
INDEX = (
    "CREATE UNIQUE INDEX funnel_count_key ON funnel_count "
    "(flow_name, flow_version, organisation, cohort_day, kind, state, detail)"
)
# Reads of a period filter the not yet compacted deltas like the counters.
DELTA_INDEX = "CREATE INDEX funnel_delta_key ON funnel_delta (flow_name, flow_version, organisation, cohort_day)"


async def _create() -> None:
    """Invitations that started before this migration are counted from their history by
    `db.migrate.upgrade` right after it (the counting needs the app's Database handle)."""
    from db.piccolo_conf import DB

    key = "id SERIAL PRIMARY KEY" if DB.engine_type == "postgres" else "id INTEGER PRIMARY KEY AUTOINCREMENT"
    for table in ("funnel_count", "funnel_delta"):
        await DB.run_ddl(f"CREATE TABLE {table} ({key}, {COLUMNS})")
    await DB.run_ddl(INDEX)
    await DB.run_ddl(DELTA_INDEX)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_create)
    return manager
