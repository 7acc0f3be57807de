"""Database layer: Piccolo tables, engine selection, migrations and query helpers."""

import os

# Piccolo looks for its configuration module by this name (migrations, CLI).
os.environ.setdefault("PICCOLO_CONF", "db.piccolo_conf")
