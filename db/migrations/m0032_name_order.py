"""Sorted by name through an index (issue 12): the Nutzerverwaltung's name order walks
`account (organisation, last_name, id)` and each account's instances (db/people.py), so a
page costs the same wherever it starts, instead of sorting all of an organisation's rows.

The two indexes on `lower(last_name)` and `lower(first_name)` from m0006 go: no query has
read them since the search moved to its own index (m0023), and every account paid for them.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T13:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "name order of the Nutzerverwaltung through an index"

STATEMENTS = [
    "CREATE INDEX account_org_name ON account (organisation, last_name, id)",
    "DROP INDEX IF EXISTS account_org_last_name",
    "DROP INDEX IF EXISTS account_org_first_name",
]


async def _run() -> None:
    from db.piccolo_conf import DB

    for statement in STATEMENTS:
        await DB.run_ddl(statement)
    if DB.engine_type == "postgres":
        await DB.run_ddl("ANALYZE account")  # plan the name order with the new index at once


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_run)
    return manager
