"""Vacuum the work queues by their own measure (issue 12, the empty timer poll): PostgreSQL.

Firing a timer leaves dead rows behind (the claim and the state change each write a new
version), and their entries stay in the partial index `timer_pending_due` until VACUUM
removes them. The sweep's empty poll reads that index with a bitmap scan, which visits
every such entry and its heap page on every poll: 1.4 ms for the 19 729 left by firing
10 000 timers of 1 000 000, 0.07 ms after VACUUM (docs/benchmarks.md). By default
autovacuum waits until a fifth of a table is dead, 200 000 rows at 1 000 000 timers, so
the poll would grow with every sweep until then. The mail outbox is the same kind of
queue (`outbox_pending_next`).

Both tables are now vacuumed after a fixed number of dead rows, whatever their size, and
the index entries are always cleaned (PostgreSQL otherwise skips the indexes when only a
few pages have dead rows, the case of a block of timers fired together). SQLite: nothing
(no dead rows: a statement sees the current index).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T14:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "vacuum the timer and outbox queues after a fixed number of dead rows"

QUEUE_TABLES = ("timer", "outbox")
SETTINGS = (
    "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000, "
    "autovacuum_analyze_scale_factor = 0.02, vacuum_index_cleanup = on"
)


async def _run() -> None:
    from db.piccolo_conf import DB

    if DB.engine_type == "postgres":
        for table in QUEUE_TABLES:
            await DB.run_ddl(f"ALTER TABLE {table} SET ({SETTINGS})")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_run)
    return manager
