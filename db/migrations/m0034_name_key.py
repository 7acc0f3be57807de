"""Names in German order (issue 12, "Nachname A–Z"): each account gets the sort key of its
names (`account.name_key`, db/name_order.py), filled here for the accounts there are, and
the name order's index moves from `account (organisation, last_name, id)` (m0032) to
`account (organisation, name_key, id)`.

On PostgreSQL the column has the collation "C": the key is built to be compared bytewise,
as SQLite compares it, whatever collation the server was set up with.

The keys are computed by the application's own function, so that they match what it
writes from now on; should that function ever change, a new migration computes them again.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T18:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "German name order through a stored sort key"

CHUNK = 400  # accounts per UPDATE (SQLite: two parameters each, well under its limit)


async def _run() -> None:
    from piccolo.querystring import QueryString

    from db.name_order import name_key
    from db.piccolo_conf import DB

    postgres = DB.engine_type == "postgres"
    collation = ' COLLATE "C"' if postgres else ""
    await DB.run_ddl(f"ALTER TABLE account ADD COLUMN name_key TEXT{collation} NOT NULL DEFAULT ''")
    rows = await DB.run_querystring(QueryString("SELECT id, first_name, last_name FROM account ORDER BY id"))
    keys = [(row["id"], name_key(row["first_name"] or "", row["last_name"] or "")) for row in rows]
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        if postgres:
            await DB.run_querystring(QueryString(
                "UPDATE account SET name_key = k.key FROM unnest({}::integer[], {}::text[]) AS k(id, key) "
                "WHERE account.id = k.id",
                [i for i, _ in chunk], [k for _, k in chunk],
            ))
        else:
            values = ", ".join("({}, {})" for _ in chunk)
            await DB.run_querystring(QueryString(
                f"UPDATE account SET name_key = k.column2 FROM (VALUES {values}) AS k WHERE account.id = k.column1",
                *[value for pair in chunk for value in pair],
            ))
    await DB.run_ddl("CREATE INDEX account_org_name_key ON account (organisation, name_key, id)")
    await DB.run_ddl("DROP INDEX IF EXISTS account_org_name")
    if postgres:
        await DB.run_ddl("ANALYZE account")  # plan the name order with the new index at once


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_run)
    return manager
