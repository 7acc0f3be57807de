"""PostgreSQL vacuums the timer and outbox queues after a fixed number of dead rows, with
their index entries (m0033): otherwise each empty poll walks what the last sweeps left
(docs/benchmarks.md, "Issue 12, round 5: the empty timer poll")."""

from __future__ import annotations

import pytest

from db.engine import Sql
from db.tables import Timer


@pytest.mark.postgres
async def test_the_queues_are_vacuumed_by_a_fixed_number_of_dead_rows(db):
    for table in ("timer", "outbox"):
        row = await db.fetch_one(Sql(Timer, "SELECT reloptions FROM pg_class WHERE relname = {} AND relkind = 'r'", table))
        assert sorted(row["reloptions"]) == [
            "autovacuum_analyze_scale_factor=0.02", "autovacuum_vacuum_scale_factor=0",
            "autovacuum_vacuum_threshold=10000", "vacuum_index_cleanup=on",
        ], table
