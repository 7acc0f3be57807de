"""Timer claims: several sweepers share the due timers instead of racing for the same ones
(issue 10). A sweeper claims a batch by setting claimed_until; the others skip it until
then (a sweeper that dies hands its batch on when the claim runs out)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-02T16:05:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "timer claims"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Timer",
        tablename="timer",
        column_name="claimed_until",
        db_column_name="claimed_until",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
