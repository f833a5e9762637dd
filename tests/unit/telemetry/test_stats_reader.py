"""GET /stats without Redis: this replica's records, and the last Redis answer's drift."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from audits.contracts.types import Condition
from service.telemetry.stats_figures import RedisHealth
from service.telemetry.stats_reader import StatsReader
from tests.support.telemetry import WINDOWS, audit_record


class DownRedis:
    """A Redis runner whose every call fails, as when Redis does not answer."""

    async def call(self, fn: Callable[[Any], Awaitable[Any]], timeout: float = 2.0) -> Any:
        raise RuntimeError("no answer")

    def health(self) -> RedisHealth:
        return RedisHealth(connected=True, buffered=3, overflowed=1, last_error="x")


def records(now: float) -> list[Any]:
    return [audit_record(f"r{i}", flips={Condition.SHUFFLED: i < 2}, ts=now - 10) for i in range(5)]


async def test_without_redis_the_figures_come_from_local_records() -> None:
    reader = StatsReader(windows_s=WINDOWS, min_audits=20)
    stats = await reader.stats("m", redis=None, records=records(time.time()), queue_depth=4)
    assert stats["source"] == "local" and stats["redis"] is None and stats["ledger"] is None
    assert stats["counts"]["audits"] == 5 and stats["audit_queue_depth"] == 4
    assert stats["windows"]["15m"]["IS"]["k"] == 2 and stats["windows"]["15m"]["IS"]["n"] == 5
    assert stats["drift"]["status"] == "insufficient_data"
    assert stats["verdict"]["status"] and "legend" in stats
    summary = await reader.stats("m", redis=None, records=[], queue_depth=0, view="summary")
    assert "counts" not in summary and summary["drift"]["audits_seen"] == 0


async def test_redis_down_answers_locally_and_says_it_is_not_connected() -> None:
    reader = StatsReader(windows_s=WINDOWS, min_audits=20)
    stats = await reader.stats("m", redis=DownRedis(), records=records(time.time()), queue_depth=0)
    assert stats["source"] == "local"
    assert stats["redis"] == {
        "connected": False,
        "buffered": 3,
        "overflowed": 1,
        "last_error": "x",
    }
