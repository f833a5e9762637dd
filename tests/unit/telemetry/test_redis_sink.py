"""The Redis sink's buffer: bounded, oldest dropped and counted, in order through retries."""

from __future__ import annotations

from typing import Any, cast

from audits.contracts.types import Condition
from service.telemetry.drift.monitor import DriftMonitor
from service.telemetry.ledger import LedgerCounts
from service.telemetry.record_script import RecordScript
from service.telemetry.redis_sink import RedisSink
from service.telemetry.rolling_counts import RollingCounts
from tests.support.telemetry import audit_record
from tests.unit.telemetry.fakes import FakeLoop


def make_sink(buffer_size: int, batch_size: int = 2) -> tuple[RedisSink, LedgerCounts]:
    loop = cast(Any, FakeLoop())
    ledger = LedgerCounts(loop)
    script = RecordScript(counts=RollingCounts([900]), drift=DriftMonitor(min_audits=5))
    sink = RedisSink(loop, script, ledger, buffer_size=buffer_size, batch_size=batch_size)
    return sink, ledger


def ids(sink: RedisSink) -> list[str]:
    taken = []
    while sink.take():
        taken += [record.request_id for record in sink._inflight]
        sink.done()
    return taken


def record(index: int) -> Any:
    return audit_record(f"r{index}", flips={Condition.SHUFFLED: True})


def test_a_full_buffer_drops_the_oldest_and_the_ledger_counts_it() -> None:
    sink, ledger = make_sink(buffer_size=3)
    for index in range(5):
        sink.emit(record(index))
    assert sink.buffered == 3 and sink.overflowed == 2
    assert ledger.take() == 1 and ledger._inflight == {("m", "overflowed"): 2}
    assert ids(sink) == ["r2", "r3", "r4"]
    assert sink.idle()


def test_a_batch_that_goes_back_keeps_the_order_and_is_findable() -> None:
    sink, _ = make_sink(buffer_size=3)
    for index in range(3):
        sink.emit(record(index))
    assert sink.take() == 2
    assert sink.pending("r0") is not None, "in flight is still this replica's record"
    sink.emit(record(3))  # the buffer had room for one more while two were in flight
    sink.restore()  # no room for both: the oldest goes
    assert sink.overflowed == 1
    assert ids(sink) == ["r1", "r2", "r3"]
    assert sink.pending("r1") is None


def test_after_close_records_count_as_overflowed() -> None:
    sink, _ = make_sink(buffer_size=3)
    sink.emit(record(0))
    assert sink.close() == 1
    sink.emit(record(1))
    assert sink.overflowed == 1 and sink.buffered == 1
