"""Search in page order (issue 12, round 3): PostgreSQL chooses between reading a search's
matches through the trigram index and walking the page order, by the statistics on the
index's expression (db/people.py). Those are gathered by ANALYZE, which autovacuum runs
only after enough rows changed: run it once now, so an upgraded database plans well from
the first search. SQLite: nothing (its choice is made in db/people.py)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T10:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "statistics for the search of people"


async def _analyze() -> None:
    from db.piccolo_conf import DB

    if DB.engine_type == "postgres":
        await DB.run_ddl("ANALYZE account")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_analyze)
    return manager
