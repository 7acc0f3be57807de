"""Indexes for sessions, links, the live change feed and the admin table search."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-29T09:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "admin and session indexes"

INDEXES = [
    "CREATE INDEX web_session_account ON web_session (account)",
    "CREATE INDEX invitation_link_instance ON invitation_link (instance)",
    "CREATE INDEX transition_history_org_id ON transition_history (organisation, id)",
    "CREATE INDEX transition_history_actor_event ON transition_history (actor, event, created_at)",
    "CREATE INDEX account_org_last_name ON account (organisation, lower(last_name))",
    "CREATE INDEX account_org_first_name ON account (organisation, lower(first_name))",
    "CREATE INDEX flow_instance_account ON flow_instance (account)",
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
