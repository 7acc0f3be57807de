"""The funnel's rules without a database: steps and stops come from the flow file (a copy
with every id renamed gives the same funnel), durations keep ~1 % in their buckets, and
percentiles are nearest-rank."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from db.funnel import InstanceTrail, Transition, bucket_of, bucket_value
from tests.support.flow_copies import dump, renamed, shipped_data
from workflows import funnel
from workflows.definition import parse


def shipped():
    return parse(dump(shipped_data()))


def test_steps_and_stops_of_the_shipped_flow():
    definition = shipped()
    assert funnel.steps_of(definition) == ["invited", "in_progress", "registered", "consented", "active"]
    assert funnel.stops_of(definition) == ["expired", "locked", "revoked", "deleted"]


def test_renaming_every_id_gives_the_same_funnel():
    copy, names = renamed(shipped_data())
    definition = parse(dump(copy))
    assert funnel.steps_of(definition) == [names[s] for s in funnel.steps_of(shipped())]
    assert funnel.stops_of(definition) == [names[s] for s in funnel.stops_of(shipped())]


@pytest.mark.parametrize("seconds", [0, 1, 59, 61, 3_599, 7_200, 86_400 * 3, 2_592_000, 31_536_000 * 10])
def test_a_bucket_stands_for_its_durations_within_one_percent(seconds):
    value = bucket_value(bucket_of(seconds))
    assert bucket_of(value) == bucket_of(seconds)
    assert abs(value - seconds) <= max(0.5, 0.009 * seconds)


def test_percentiles_are_nearest_rank_over_the_buckets():
    stays = [60, 120, 180, 3_600, 7_200, 7_300, 86_400, 90_000, 100_000, 1_000_000]
    histogram = defaultdict(int)
    for s in stays:
        histogram[bucket_of(s)] += 1
    assert funnel.percentile(histogram, 0.5) == bucket_value(bucket_of(7_200))  # 5th of 10
    assert funnel.percentile(histogram, 0.9) == bucket_value(bucket_of(100_000))  # 9th of 10
    assert funnel.percentile({}, 0.5) is None


def test_a_deleted_invitation_after_expiry_still_counts_as_expired_at_its_step():
    definition = shipped()
    start = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
    trail, deltas = InstanceTrail("onboarding", 3), defaultdict(int)
    for hours, source, target, actor in [
        (0, "new", "invited", "admin"), (720, "invited", "expired", "system:timer"), (1440, "expired", "deleted", "system:timer"),
    ]:
        trail.apply(Transition("x", source, target, actor, False, start + timedelta(hours=hours), 2), deltas)
    rows = [{"kind": k[4], "state": k[5], "detail": k[6], "count": n} for k, n in deltas.items() if k[2] == 0]
    report = funnel.build_report(definition, rows)
    assert report.steps[0].stopped == {"expired": 1, "locked": 0, "revoked": 0, "deleted": 0}
    assert report.steps[0].time.median_seconds == bucket_value(bucket_of(720 * 3600))
    assert math.isclose(report.stop_times[0].median_seconds, 720 * 3600, rel_tol=0.01)
