"""Every Redis key the service writes (a contract with dashboards, scripts and other replicas)."""

from __future__ import annotations

from service.telemetry.redis_keys import (
    STREAM_KEY,
    baseline_key,
    bucket_key,
    counts_key,
    cusum_key,
    feedback_key,
    is_cluster_url,
    pending_key,
    record_ids_key,
    record_key,
    warmup_key,
)


def test_key_names_share_one_cluster_slot_and_keep_their_names() -> None:
    keys = {
        STREAM_KEY: "{grounding}:audits",
        record_key("r1"): "{grounding}:audit:r1",
        record_ids_key("r1"): "{grounding}:audit:r1:ids",
        baseline_key("m"): "{grounding}:drift:m:baseline",
        cusum_key("m"): "{grounding}:drift:m:cusum",
        warmup_key("m"): "{grounding}:drift:m:warmup",
        pending_key("m"): "{grounding}:drift:m:pending",
        counts_key("m"): "{grounding}:drift:m:counts",
        bucket_key("m", 60, 7): "{grounding}:drift:m:b60:7",
        feedback_key("m"): "{grounding}:feedback:m",
    }
    for key, name in keys.items():
        assert key == name


def test_cluster_urls() -> None:
    assert is_cluster_url("redis+cluster://h:7000") and is_cluster_url("rediss+cluster://h:7000")
    assert not is_cluster_url("redis://h:6379/0")
