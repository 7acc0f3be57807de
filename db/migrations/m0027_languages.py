"""Each person's language (issue 14): chosen by the admin when inviting (German by
default), changed by the person with the language switch; mails and, without a
language cookie, pages use it."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T06:20:35:000000"
VERSION = "1.38.0"
DESCRIPTION = "language of each account"


async def _add() -> None:
    from db.piccolo_conf import DB

    await DB.run_ddl("ALTER TABLE account ADD COLUMN language VARCHAR(12) NOT NULL DEFAULT 'de'")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_add)
    return manager
