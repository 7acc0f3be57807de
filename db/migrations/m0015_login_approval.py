"""Login approval that resists push bombing (PIN-6): login start throttles, the app's
request nonces, the requesting browser's description and a longer number per challenge."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Serial, Timestamptz, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-02T16:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "login approval: throttles, app nonces, browser description"


def _params(**extra) -> dict:
    return {
        "null": False, "primary_key": False, "unique": False, "index": False, "index_method": IndexMethod.btree,
        "choices": None, "db_column_name": None, "secret": False, **extra,
    }


COLUMNS = {
    ("LoginThrottle", "login_throttle"): [
        ("id", Serial, _params(primary_key=True)),
        ("key", Varchar, _params(length=100, default="", unique=True)),
        ("window_start", Timestamptz, _params(default=None)),
        ("count", Integer, _params(default=0)),
        ("strikes", Integer, _params(default=0)),
        ("blocked_until", Timestamptz, _params(default=None, null=True)),
        ("hold_until", Timestamptz, _params(default=None, null=True)),
    ],
    ("AppRequestNonce", "app_request_nonce"): [
        ("id", Serial, _params(primary_key=True)),
        ("key", Varchar, _params(length=150, default="", unique=True)),
        ("expires_at", Timestamptz, _params(default=None, index=True)),
    ],
}


async def _challenge_columns() -> None:
    """Raw DDL, because Piccolo runs raw steps before its own: the index needs the column.
    SQLite does not enforce VARCHAR lengths (nor can it alter a column's type), so only
    PostgreSQL needs the wider number."""
    from db.piccolo_conf import DB

    for name in ("browser", "requester_key"):
        await DB.run_ddl(f"ALTER TABLE login_challenge ADD COLUMN {name} VARCHAR(100) NOT NULL DEFAULT ''")
    await DB.run_ddl("CREATE INDEX login_challenge_requester ON login_challenge (requester_key, expires_at)")
    if DB.engine_type == "postgres":
        await DB.run_ddl("ALTER TABLE login_challenge ALTER COLUMN number TYPE VARCHAR(8)")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    for (class_name, tablename), columns in COLUMNS.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params in columns:
            manager.add_column(
                table_class_name=class_name, tablename=tablename, column_name=name, db_column_name=name,
                column_class_name=column_class.__name__, column_class=column_class, params=params, schema=None,
            )
    manager.add_raw(_challenge_columns)
    return manager
