"""Database layer: Piccolo tables, engine selection, migrations and query helpers."""
