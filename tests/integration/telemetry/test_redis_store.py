"""Stored records and feedback in Redis; the record store and /stats with Redis down."""

from __future__ import annotations

import time

import pytest
import redis as redis_py

from audits.contracts.types import Condition
from loadtests.processes import free_port
from service.identity import answer_fingerprint
from service.telemetry.redis_keys import feedback_key
from service.telemetry.redis_store import RedisRecordStore
from service.telemetry.sinks import MemorySink
from service.telemetry.store import MemoryRecordStore
from tests.support.telemetry import SECRET, Target, make_reader, make_record, make_telemetry


async def test_stats_and_store_answer_with_redis_down() -> None:
    port = free_port()  # nothing listens here
    reader = make_reader()
    telemetry = make_telemetry(f"redis://127.0.0.1:{port}/0")
    memory = MemorySink()
    for i in range(8):
        rec = make_record(i, i < 3)
        memory.emit(rec)
        telemetry.sink.emit(rec)
    store = RedisRecordStore(telemetry, SECRET, fallback=MemoryRecordStore(memory, SECRET))
    started = time.perf_counter()
    stats = await reader.stats("m", redis=telemetry, records=memory.records, queue_depth=2)
    assert time.perf_counter() - started < 3
    assert stats["source"] == "local"
    assert stats["redis"]["connected"] is False and stats["redis"]["buffered"] == 8
    assert stats["counts"]["audits"] == 8
    assert stats["windows"]["15m"]["IS"]["k"] == 3 and stats["windows"]["15m"]["IS"]["n"] == 8
    assert stats["drift"]["status"] == "insufficient_data"
    assert stats["audit_queue_depth"] == 2
    found = await store.get("req-00001")
    assert found is not None and found["request_id"] == "req-00001"
    assert await store.get("missing") is None
    assert await store.add_feedback("req-00001", "yes") == {
        Condition.REAL: True,
        Condition.SHUFFLED: False,
    }
    telemetry.close(timeout=0.2)


async def test_feedback_is_stored_counted_once_and_feeds_online_accuracy(
    target: Target, target_client: redis_py.Redis
) -> None:
    reader = make_reader()
    telemetry = make_telemetry(target.url)
    for i in range(25):
        telemetry.sink.emit(make_record(i, True, answers=("yes", "no")))
    assert telemetry.flush(10)
    store = RedisRecordStore(telemetry, SECRET)

    first = await store.add_feedback("req-00000", "Yes.")
    assert first == {Condition.REAL: True, Condition.SHUFFLED: False}
    assert await store.add_feedback("req-00000", "yes") == first
    counters = target_client.hgetall(feedback_key("m"))
    assert counters == {
        "n": "1",
        "n_real": "1",
        "correct_real": "1",
        "n_shuffled": "1",
        "correct_shuffled": "0",
        "pair_10": "1",
    }
    stored = await store.get("req-00000")
    assert stored is not None
    assert stored["correct_real"] == "1" and stored["correct_shuffled"] == "0"
    assert stored["reference_fp"] == answer_fingerprint("yes", SECRET)

    changed = await store.add_feedback("req-00000", "no")
    assert changed == {Condition.REAL: False, Condition.SHUFFLED: True}
    counters = target_client.hgetall(feedback_key("m"))
    assert counters["n"] == "1" and counters["correct_real"] == "0"
    assert counters["correct_shuffled"] == "1" and counters["pair_01"] == "1"
    assert counters["pair_10"] == "0"
    assert await store.add_feedback("no-such-request", "yes") is None
    assert await store.get("no-such-request") is None

    for i in range(1, 25):
        await store.add_feedback(f"req-{i:05d}", "yes")
    stats = await reader.stats("m", redis=telemetry, records=[], queue_depth=0)
    feedback = stats["feedback"]
    assert feedback["n"] == 25
    assert feedback["accuracy"]["real"]["k"] == 24 and feedback["accuracy"]["real"]["n"] == 25
    assert feedback["vrs"]["n"] == 25
    assert feedback["vrs"]["value"] == pytest.approx((24 - 1) / 25)
    telemetry.close()
