"""Where records go: a failing sink never stops the others; the memory sink keeps the last ones."""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY

from audits.contracts.audit_record import AuditRecord
from service.telemetry.sinks import FanOut, MemorySink
from tests.support.telemetry import audit_record


class Broken:
    name = "broken"

    def emit(self, record: AuditRecord) -> None:
        raise RuntimeError("down")


def test_a_failing_sink_is_counted_and_the_others_still_get_the_record() -> None:
    labels = {"sink": "broken"}
    before = REGISTRY.get_sample_value("grounding_sink_errors_total", labels) or 0.0
    first, last = MemorySink(), MemorySink()
    FanOut([first, Broken(), last]).emit(audit_record("r1"))
    assert [r.request_id for r in first.records] == [r.request_id for r in last.records] == ["r1"]
    assert REGISTRY.get_sample_value("grounding_sink_errors_total", labels) == before + 1


def test_the_memory_sink_keeps_the_last_records_and_wakes_a_waiter() -> None:
    sink = MemorySink(capacity=2)
    assert not sink.wait_for(1, timeout=0.01)
    threading.Timer(0.05, sink.emit, args=(audit_record("late"),)).start()
    assert sink.wait_for(1, timeout=5)
    for index in range(3):
        sink.emit(audit_record(f"r{index}"))
    assert [r.request_id for r in sink.records] == ["r1", "r2"]
