"""Flow studio: operator organisations (product owners), the published version of each
flow, drafts of new versions and resumable migrations of running instances."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-02T16:07:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "flow studio: operator organisation, publications, drafts, migrations"


def _params(**extra) -> dict:
    return {
        "null": False, "primary_key": False, "unique": False, "index": False, "index_method": IndexMethod.btree,
        "choices": None, "db_column_name": None, "secret": False, **extra,
    }


COLUMNS = {
    ("FlowPublication", "flow_publication"): [
        ("id", Serial, _params(primary_key=True)),
        ("flow_name", Varchar, _params(length=100, default="", unique=True)),
        ("flow_version", Integer, _params(default=0)),
        ("published_at", Timestamptz, _params(default=None)),
        ("published_by", Varchar, _params(length=200, default="")),
    ],
    ("FlowDraft", "flow_draft"): [
        ("id", Serial, _params(primary_key=True)),
        ("flow_name", Varchar, _params(length=100, default="")),
        ("base_version", Integer, _params(default=0)),
        ("text", Text, _params(default="")),
        ("status", Varchar, _params(length=20, default="open")),
        ("published_version", Integer, _params(default=None, null=True)),
        ("created_by", Varchar, _params(length=200, default="")),
        ("created_at", Timestamptz, _params(default=None)),
        ("updated_at", Timestamptz, _params(default=None)),
    ],
    ("FlowMigration", "flow_migration"): [
        ("id", Serial, _params(primary_key=True)),
        ("flow_name", Varchar, _params(length=100, default="")),
        ("from_version", Integer, _params(default=0)),
        ("to_version", Integer, _params(default=0)),
        ("mapping", JSON, _params(default="{}")),
        ("total", Integer, _params(default=0)),
        ("moved", Integer, _params(default=0)),
        ("status", Varchar, _params(length=20, default="running")),
        ("created_by", Varchar, _params(length=200, default="")),
        ("created_at", Timestamptz, _params(default=None)),
        ("updated_at", Timestamptz, _params(default=None)),
    ],
}


async def _raw() -> None:
    """Raw DDL for columns of existing tables (Piccolo runs raw steps before its own, so
    nothing here may touch the tables created above)."""
    from db.piccolo_conf import DB

    await DB.run_ddl("ALTER TABLE organisation ADD COLUMN kind VARCHAR(20) NOT NULL DEFAULT 'provider'")
    await DB.run_ddl("ALTER TABLE flow_definition ADD COLUMN published_at TIMESTAMPTZ NULL")
    await DB.run_ddl("ALTER TABLE flow_definition ADD COLUMN published_by VARCHAR(200) NOT NULL DEFAULT ''")
    # Instances per version and state (Abläufe, Migrieren), without a scan of all instances.
    await DB.run_ddl("CREATE INDEX flow_instance_studio ON flow_instance (flow_name, flow_version, state)")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    for (class_name, tablename), columns in COLUMNS.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params in columns:
            manager.add_column(
                table_class_name=class_name, tablename=tablename, column_name=name, db_column_name=name,
                column_class_name=column_class.__name__, column_class=column_class, params=params, schema=None,
            )
    manager.add_raw(_raw)
    return manager
