"""The Nutzerverwaltung at 100 000 people: the accepted document versions stamped on the
session row (one statement per request reads session and consent), and search by any part
of a name or address, case-insensitive for all letters, through an index on both engines
(PostgreSQL: pg_trgm; SQLite: an FTS5 trigram table kept in sync by triggers)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T16:09:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "consent stamp on sessions, substring search of people"

# Sessions from before this migration have an empty stamp: their first request recomputes
# it from the consent records (web/auth.py), so nobody is asked again for nothing.
STATEMENTS = [
    "ALTER TABLE web_session ADD COLUMN accepted_documents TEXT NOT NULL DEFAULT ''",
]
# What a search looks in (db/people.py SEARCH_TEXT names the same expression).
_TEXT = "first_name || ' ' || last_name || ' ' || email"
_NEW_TEXT = "new.first_name || ' ' || new.last_name || ' ' || new.email"
POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",  # a trusted extension: the database owner may create it
    f"CREATE INDEX account_search_trgm ON account USING gin ((lower({_TEXT})) gin_trgm_ops)",
]
# The trigram tokenizer folds case for all letters (Ü finds ü) and matches any substring
# of three or more characters; rowid is the account's id.
SQLITE = [
    "CREATE VIRTUAL TABLE account_search USING fts5(text, tokenize = 'trigram')",
    f"INSERT INTO account_search (rowid, text) SELECT id, {_TEXT} FROM account",
    "CREATE TRIGGER account_search_insert AFTER INSERT ON account BEGIN "
    f"INSERT INTO account_search (rowid, text) VALUES (new.id, {_NEW_TEXT}); END",
    "CREATE TRIGGER account_search_update AFTER UPDATE OF first_name, last_name, email ON account BEGIN "
    "DELETE FROM account_search WHERE rowid = old.id; "
    f"INSERT INTO account_search (rowid, text) VALUES (new.id, {_NEW_TEXT}); END",
    "CREATE TRIGGER account_search_delete AFTER DELETE ON account BEGIN "
    "DELETE FROM account_search WHERE rowid = old.id; END",
]


async def _run() -> None:
    # One raw step, so the statements run in this order (Piccolo runs raw steps first).
    from db.piccolo_conf import DB

    for statement in STATEMENTS + (POSTGRES if DB.engine_type == "postgres" else SQLITE):
        await DB.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="partnerportal", description=DESCRIPTION)
    manager.add_raw(_run)
    return manager
