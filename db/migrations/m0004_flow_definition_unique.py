"""One snapshot per flow version (raw SQL: see m0002 for why)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-29T09:37:16:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique flow versions"


async def _create_index():
    from db.piccolo_conf import DB

    await DB.run_ddl(
        "CREATE UNIQUE INDEX flow_definition_name_version ON flow_definition (flow_name, flow_version)"
    )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_create_index)
    return manager
