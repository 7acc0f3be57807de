"""Indexes for the CSV import: a run claims its import's next pending rows in line order."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-29T10:10:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "CSV import indexes"

INDEXES = [
    "CREATE INDEX csv_import_row_import_status_line ON csv_import_row (csv_import, status, line)",
    "CREATE INDEX csv_import_org_created ON csv_import (organisation, created_at)",
    "CREATE INDEX csv_import_created_at ON csv_import (created_at)",
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
