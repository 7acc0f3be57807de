"""Indexes for devices, codes, challenges and the audit log (raw SQL: see m0002)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-29T10:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "two-factor indexes"

INDEXES = [
    "CREATE INDEX device_account ON device (account)",
    "CREATE INDEX activation_code_instance ON activation_code (instance)",
    "CREATE INDEX activation_code_hash ON activation_code (code_hash)",
    "CREATE INDEX login_challenge_account_status ON login_challenge (account, status)",
    "CREATE INDEX audit_event_org_id ON audit_event (organisation, id)",
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
