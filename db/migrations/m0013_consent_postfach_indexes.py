"""Indexes for consent lookups and the Postfach (raw SQL: see m0002)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-29T10:17:12:000000"
VERSION = "1.38.0"
DESCRIPTION = "consent and Postfach indexes"

INDEXES = [
    "CREATE INDEX consent_record_account_document ON consent_record (account, document, id)",
    "CREATE INDEX postfach_message_org_id ON postfach_message (organisation, id)",
    "CREATE UNIQUE INDEX message_read_message_account ON message_read (message, account)",
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
