"""Simulations of drafts as resumable database jobs (flow studio, Vorschau)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T06:13:10:000000"
VERSION = "1.38.0"
DESCRIPTION = "flow simulations as jobs"


async def _create() -> None:
    from db.piccolo_conf import DB

    key = "id SERIAL PRIMARY KEY" if DB.engine_type == "postgres" else "id INTEGER PRIMARY KEY AUTOINCREMENT"
    await DB.run_ddl(
        f"CREATE TABLE flow_simulation ({key}, draft INTEGER NOT NULL, flow_name VARCHAR(100) NOT NULL, "
        "text TEXT NOT NULL, days INTEGER NOT NULL, since TIMESTAMPTZ NOT NULL, until TIMESTAMPTZ NOT NULL, "
        "status VARCHAR(20) NOT NULL DEFAULT 'running', replayed INTEGER NOT NULL DEFAULT 0, "
        "total INTEGER NOT NULL DEFAULT 0, last_instance INTEGER NOT NULL DEFAULT 0, summary TEXT NOT NULL DEFAULT '', "
        "worker VARCHAR(64) NOT NULL DEFAULT '', lease_until TIMESTAMPTZ NULL, "
        "created_by VARCHAR(200) NOT NULL DEFAULT '', created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)"
    )
    # The scheduler looks for unfinished simulations every few seconds.
    await DB.run_ddl("CREATE INDEX flow_simulation_status ON flow_simulation (status)")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_create)
    return manager
