"""Records looked up and feedback attached in memory (runs without Redis, and the fallback)."""

from __future__ import annotations

from audits.contracts.types import Condition
from service.identity import answer_fingerprint
from service.telemetry.sinks import MemorySink
from service.telemetry.store import MemoryRecordStore, correctness
from tests.support.telemetry import SECRET, make_record


def test_correctness_compares_the_normalized_reference_with_each_stored_answer() -> None:
    fields = make_record(1, True, answers=("yes", "no")).to_redis_fields()
    assert correctness(fields, "Yes.", SECRET) == {Condition.REAL: True, Condition.SHUFFLED: False}
    assert correctness(fields, "no", SECRET) == {Condition.REAL: False, Condition.SHUFFLED: True}
    assert correctness({}, "yes", SECRET) == {}


async def test_the_memory_store_finds_the_latest_record_and_keeps_its_feedback() -> None:
    sink = MemorySink()
    store = MemoryRecordStore(sink, SECRET)
    sink.emit(make_record(1, True, answers=("no", "no")))
    sink.emit(make_record(1, True, answers=("yes", "no")))  # the same request id, later
    assert await store.get("missing") is None
    assert await store.add_feedback("missing", "yes") is None
    assert await store.add_feedback("req-00001", "yes") == {
        Condition.REAL: True,
        Condition.SHUFFLED: False,
    }
    fields = await store.get("req-00001")
    assert fields is not None
    assert fields["answer_fp_real"] == answer_fingerprint("yes", SECRET)
    assert fields["correct_real"] == "1" and fields["correct_shuffled"] == "0"
