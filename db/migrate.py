"""Apply Piccolo migrations and tell whether a database is up to date."""

from __future__ import annotations

import contextlib
import io

from piccolo.apps.migrations.commands.base import BaseMigrationManager
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.tables import Migration

from db import funnel
from db.engine import Database
from db.piccolo_app import APP_CONFIG

APP_NAME = APP_CONFIG.app_name
UPGRADE_COMMAND = "partnerportal db upgrade"
# Creates the funnel's counters, which are then counted from the existing history.
FUNNEL_MIGRATION = "2026-12-02T16:08:00:000000"


class UnmigratedDatabase(RuntimeError):
    pass


def known_migration_ids() -> list[str]:
    manager = BaseMigrationManager()
    modules = manager.get_migration_modules(APP_CONFIG.resolved_migrations_folder_path)
    return sorted(manager.get_migration_ids(modules))


async def pending_migrations(database: Database) -> list[str]:
    del database  # the tables are bound to its engine already
    if not await Migration.table_exists().run():
        return known_migration_ids()
    ran = set(await Migration.get_migrations_which_ran(app_name=APP_NAME))
    return [m for m in known_migration_ids() if m not in ran]


async def upgrade(database: Database, quiet: bool = True) -> list[str]:
    """Apply what is pending; returns the ids applied."""
    pending = await pending_migrations(database)
    if not pending:
        return []
    out = io.StringIO()
    with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
        result = await run_forwards(app_name=APP_NAME)
    if not result.success:
        raise RuntimeError(f"Migration failed: {result.message}\n{out.getvalue()}")
    if FUNNEL_MIGRATION in pending:
        await funnel.rebuild(database)
    return pending


async def ensure_migrated(database: Database) -> None:
    pending = await pending_migrations(database)
    if pending:
        raise UnmigratedDatabase(
            f"The database is not up to date ({len(pending)} migration(s) pending). "
            f"Run: {UPGRADE_COMMAND}"
        )
