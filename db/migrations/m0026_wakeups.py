"""PostgreSQL wakes the processes: statement-level triggers send one NOTIFY per statement
that writes transition history, outbox rows or timers (db/wakeups.py listens). Triggers
rather than a hook in the code: they see every write path (single transitions, set-based
timer batches, imports) and cannot be forgotten by the next one. NOTIFY is delivered at
commit, so a listener never hears of a change it cannot read yet; identical payloads in
one transaction are delivered once. SQLite has no NOTIFY: its processes poll (nothing here)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T06:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "NOTIFY on transitions, outbox rows and timers (PostgreSQL)"

# Payloads are "live:<organisation ids>", "outbox:<epoch>", "timer:<epoch>" (the earliest
# moment a new row is due); NOTIFY refuses payloads of 8000 bytes or more, so a statement
# touching very many organisations says "live:*" (every feed polls).
CHANNEL = "partnerportal_wake"
MAX_IDS_LENGTH = 7900

POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION partnerportal_wake_live() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ids text;
BEGIN
  SELECT string_agg(DISTINCT organisation::text, ',' ORDER BY organisation::text) INTO ids FROM new_rows;
  IF ids IS NOT NULL THEN
    IF length(ids) > {MAX_IDS_LENGTH} THEN ids := '*'; END IF;
    PERFORM pg_notify('{CHANNEL}', 'live:' || ids);
  END IF;
  RETURN NULL;
END $$""",
    f"""CREATE OR REPLACE FUNCTION partnerportal_wake_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE due timestamptz;
BEGIN
  SELECT min(next_attempt_at) INTO due FROM new_rows WHERE status = 'pending';
  IF due IS NOT NULL THEN
    PERFORM pg_notify('{CHANNEL}', 'outbox:' || extract(epoch FROM due)::text);
  END IF;
  RETURN NULL;
END $$""",
    f"""CREATE OR REPLACE FUNCTION partnerportal_wake_timer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE due timestamptz;
BEGIN
  SELECT min(due_at) INTO due FROM new_rows WHERE status = 'pending';
  IF due IS NOT NULL THEN
    PERFORM pg_notify('{CHANNEL}', 'timer:' || extract(epoch FROM due)::text);
  END IF;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER transition_history_wake AFTER INSERT ON transition_history "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION partnerportal_wake_live()",
    "CREATE TRIGGER outbox_wake AFTER INSERT ON outbox "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION partnerportal_wake_outbox()",
    "CREATE TRIGGER timer_wake AFTER INSERT ON timer "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION partnerportal_wake_timer()",
]


async def _run() -> None:
    from db.piccolo_conf import DB

    if DB.engine_type != "postgres":
        return
    for statement in POSTGRES:
        await DB.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_run)
    return manager
