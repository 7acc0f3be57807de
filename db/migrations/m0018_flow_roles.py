"""CSV import rows that were invited are now marked "invitation_sent": the old value was
also a state id of the shipped flow, and no Python may name one (flow roles)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T16:04:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "csv import row status invitation_sent"

STATEMENT = "UPDATE csv_import_row SET status = 'invitation_sent' WHERE status = 'invited'"


async def _rename():
    from db.piccolo_conf import DB

    await DB.run_ddl(STATEMENT)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_rename)
    return manager
