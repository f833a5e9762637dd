"""Counter increments of a record, the time buckets of the windows and their TTLs."""

from __future__ import annotations

import random

from audits.contracts.types import Condition
from service.telemetry.counting import (
    bucket_resolution,
    bucket_ttls,
    record_increments,
    window_buckets,
    window_label,
)
from tests.support.telemetry import audit_record


def test_increments_count_known_values_only() -> None:
    full = audit_record(
        flips={Condition.SHUFFLED: True, Condition.BLANK: False},
        hvr=False,
        claims=2,
    )
    assert record_increments(full) == {
        "audits": 1,
        "run_shuffled": 1,
        "run_blank": 1,
        "shuffled_n": 1,
        "shuffled_k": 1,
        "blank_n": 1,
        "hvr_n": 1,
        "claim_n": 1,
        "claim_k": 1,
        "skeptic_n": 1,
        "mod:unknown:audits": 1,
        "mod:unknown:shuffled_n": 1,
        "mod:unknown:shuffled_k": 1,
        "mod:unknown:blank_n": 1,
        "mod:unknown:hvr_n": 1,
    }
    skipped = audit_record(
        flips={Condition.BLANK: True}, skipped={Condition.SHUFFLED: "empty pool"}, hvr=None
    )
    inc = record_increments(skipped)
    assert inc == {
        "audits": 1,
        "run_blank": 1,
        "skipped_shuffled": 1,
        "blank_n": 1,
        "blank_k": 1,
        "claim_n": 1,
        "skeptic_n": 1,
        "mod:unknown:audits": 1,
        "mod:unknown:blank_n": 1,
        "mod:unknown:blank_k": 1,
    }, "an unknown flip_shuffled or hvr must not enter a denominator"
    ct = full.model_copy(update={"modality": "CT"})
    assert {k: v for k, v in record_increments(ct).items() if k.startswith("mod:")} == {
        "mod:CT:audits": 1,
        "mod:CT:shuffled_n": 1,
        "mod:CT:shuffled_k": 1,
        "mod:CT:blank_n": 1,
        "mod:CT:hvr_n": 1,
    }


def test_window_buckets_cover_the_window_and_at_most_one_bucket_more() -> None:
    rng = random.Random(3)
    for window in (900, 3600, 86400):
        resolution = bucket_resolution(window)
        now = 1_700_000_000 + rng.random() * 10_000
        buckets = window_buckets(now, window)
        assert len(buckets) <= window // resolution + 1
        for _ in range(2000):
            ts = now - rng.random() * (window + 3 * resolution)
            inside = now - window < ts <= now
            read = int(ts // resolution) in buckets
            if inside:
                assert read, (window, now, ts)
            if read:
                assert ts > now - window - resolution, "no more than one extra bucket"


def test_bucket_sizes_and_ttls() -> None:
    assert [bucket_resolution(w) for w in (900, 3600, 86400)] == [60, 60, 1440]
    assert bucket_ttls([900, 3600, 86400]) == {60: 3600 + 120, 1440: 86400 + 2880}
    assert [window_label(w) for w in (900, 3600, 86400, 90)] == ["15m", "1h", "24h", "90s"]
