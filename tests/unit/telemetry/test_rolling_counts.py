"""The counters of /stats in Redis: what a record adds where, and which buckets a window reads."""

from __future__ import annotations

import pytest

from audits.contracts.types import Condition
from service.telemetry.counting import record_increments
from service.telemetry.rolling_counts import RollingCounts
from tests.support.telemetry import audit_record


def test_update_plan_lines_keys_up_with_arguments() -> None:
    counts = RollingCounts([900, 3600, 86400])
    rec = audit_record(flips={Condition.SHUFFLED: False}, hvr=True, claims=1, ts=86_400.0 * 3 + 61)
    keys, args = counts.update_plan(rec)
    assert keys == [
        "{grounding}:drift:m:counts",
        "{grounding}:drift:m:b60:4321",
        "{grounding}:drift:m:b1440:180",
    ]
    inc = record_increments(rec)
    assert args[0] == str(len(inc))
    pairs = dict(zip(args[1 : 1 + 2 * len(inc) : 2], args[2 : 2 + 2 * len(inc) : 2], strict=True))
    assert pairs == {field: str(value) for field, value in inc.items()}
    assert args[1 + 2 * len(inc) :] == ["3720", "89280"], "one TTL per bucket key"


@pytest.mark.parametrize("windows", [[], [0], [900, -60]])
def test_windows_are_positive_seconds(windows: list[int]) -> None:
    with pytest.raises(ValueError):
        RollingCounts(windows)


def test_each_bucket_is_read_once_and_every_window_sums_its_own() -> None:
    counts = RollingCounts([3600, 900, 900])
    assert counts.windows_s == [900, 3600]
    now = 60.0 * 1000 + 30
    names = counts.bucket_keys("m", now)
    assert len(names) == len(set(names)) == 61, "the 15 min buckets are among the hour's"
    buckets = {name: {"audits": 1} for name in names}
    per_window = counts.per_window("m", now, buckets)
    assert per_window == {900: {"audits": 16}, 3600: {"audits": 61}}
