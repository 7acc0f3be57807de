"""Activation codes are now stored as an HMAC with the secret key (ACT-1): codes still
open were stored as a plain SHA-256 and could never match again, so they end here
(the person asks the portal for a new code, without a counted wrong try)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T16:03:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "end activation codes hashed without the secret key"

STATEMENTS = [
    # created_at: a time in the column's own format on both engines, and never in the future
    "UPDATE activation_code SET ended_at = created_at WHERE ended_at IS NULL",
]


def _ddl(statement: str):
    async def run():
        from db.piccolo_conf import DB

        await DB.run_ddl(statement)

    return run


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    for statement in STATEMENTS:
        manager.add_raw(_ddl(statement))
    return manager
