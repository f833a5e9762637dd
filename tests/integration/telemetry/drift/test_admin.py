"""Baseline administration in Redis: the automatic freeze replays the flips that waited."""

from __future__ import annotations

import redis as redis_py

from audits.science.drift.cusum import CusumState
from service.telemetry.drift.admin import freeze_baseline
from service.telemetry.drift.baseline import Baseline
from service.telemetry.redis_keys import connect, cusum_key, pending_key
from tests.support.servers import RedisServer


async def test_the_freeze_replays_pending_flips_with_and_without_a_stratum(
    redis: RedisServer, client: redis_py.Redis
) -> None:
    """Flips that waited for the freeze carry their stratum; ones queued by a replica from
    before strata existed (the flip alone) are replayed with the pooled increments."""
    baseline = Baseline.for_counts({"closed|CT": (60, 42), "open|MR": (60, 6)}, source="auto")
    client.rpush(pending_key("m"), "0", "0|closed|CT", "1|open|MR")
    aclient = connect(redis.url)
    try:
        result = [str(v) for v in await freeze_baseline(aclient, "m", baseline)]
    finally:
        await aclient.aclose()
    detector = baseline.stratified()
    expected = CusumState()
    for stratum, flip in (("", 0), ("closed|CT", 0), ("open|MR", 1)):
        expected = detector.update(expected, stratum, flip)
    assert result[0] == "cusum" and int(result[2]) == 3
    assert CusumState.from_hash(client.hgetall(cusum_key("m"))) == expected
    assert client.exists(pending_key("m")) == 0
