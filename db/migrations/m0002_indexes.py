"""Composite and partial indexes for the sweeps and the admin table.

Raw SQL, because Piccolo's composite Unique() breaks table creation on SQLite and
raw statements run before added tables within one migration. Both engines accept it.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-29T09:34:08:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes"

INDEXES = [
    "CREATE UNIQUE INDEX account_org_email ON account (organisation, lower(email))",
    "CREATE INDEX flow_instance_org_id ON flow_instance (organisation, id)",
    "CREATE INDEX flow_instance_org_state_id ON flow_instance (organisation, state, id)",
    "CREATE INDEX transition_history_instance_id ON transition_history (instance, id)",
    "CREATE INDEX timer_pending_due ON timer (due_at) WHERE status = 'pending'",
    "CREATE INDEX timer_instance_status ON timer (instance, status)",
    "CREATE INDEX outbox_pending_next ON outbox (next_attempt_at) WHERE status = 'pending'",
    "CREATE INDEX outbox_instance ON outbox (instance)",
]


def _ddl(statement: str):
    async def run():
        from db.piccolo_conf import DB

        await DB.run_ddl(statement)

    return run


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    for statement in INDEXES:
        manager.add_raw(_ddl(statement))
    return manager
