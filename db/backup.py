"""Back up a running database without stopping it.

SQLite: the online backup API copies the database page by page inside one read
transaction, so the copy is consistent while `serve` and `worker` keep writing (WAL).
PostgreSQL: pg_dump (custom format), which also reads one consistent snapshot."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


class BackupFailed(RuntimeError):
    pass


def backup_sqlite(source: Path, target: Path) -> None:
    if not source.exists():
        raise BackupFailed(f"{source} does not exist")
    partial = target.with_name(target.name + ".partial")
    source_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        target_db = sqlite3.connect(partial)
        try:
            source_db.backup(target_db)
            if target_db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupFailed("the copy failed its integrity check")
        finally:
            target_db.close()
    finally:
        source_db.close()
    partial.replace(target)  # a finished copy or none: never half a file under the name


def backup_postgres(url: str, target: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupFailed("pg_dump is not installed (Debian: apt-get install postgresql-client)")
    parts = urlsplit(url)
    # The password goes by environment, not on the command line (visible in ps).
    env = {**os.environ, "PGPASSWORD": parts.password or ""}
    netloc = f"{parts.username}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    without_password = urlunsplit(parts._replace(scheme="postgresql", netloc=netloc))
    partial = target.with_name(target.name + ".partial")
    result = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", f"--file={partial}", without_password],
        env=env, capture_output=True, text=True,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupFailed(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "pg_dump failed")
    partial.replace(target)
