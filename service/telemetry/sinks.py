"""Where completed audit records go: one small interface, several sinks."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from audits.contracts.audit_record import AuditRecord
from audits.contracts.types import Condition
from service.telemetry.prometheus import EXPORTER

log = logging.getLogger(__name__)


class AuditSink(Protocol):
    name: str

    def emit(self, record: AuditRecord) -> None:
        """Hand the record over; must not block and must not raise."""


class LogSink:
    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("grounding.audits")

    def emit(self, record: AuditRecord) -> None:
        flips = {c.value: int(v) for c, v in record.flags.flips.items()}
        self._log.info(
            "audit request_id=%s model=%s mode=%s flips=%s hvr=%s claims=%d duration_ms=%.0f",
            record.request_id,
            record.model,
            record.mode,
            flips,
            record.flags.hvr,
            len(record.flags.claim_spans),
            record.duration_ms,
        )


class MemorySink:
    """Keeps the last records in memory (tests, and the local /stats fallback)."""

    name = "memory"

    def __init__(self, capacity: int = 10_000) -> None:
        self._records: deque[AuditRecord] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)

    def emit(self, record: AuditRecord) -> None:
        with self._arrived:
            self._records.append(record)
            self._arrived.notify_all()

    @property
    def records(self) -> list[AuditRecord]:
        with self._lock:
            return list(self._records)

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self._records) >= count, timeout)


class PrometheusSink:
    name = "prometheus"

    def emit(self, record: AuditRecord) -> None:
        EXPORTER.record_audit(record)


class FanOut:
    """Sends each record to every sink; a failing sink is counted and never stops the others."""

    def __init__(self, sinks: Sequence[AuditSink]) -> None:
        self.sinks = list(sinks)

    def emit(self, record: AuditRecord) -> None:
        for sink in self.sinks:
            try:
                sink.emit(record)
            except Exception:
                log.exception("audit sink %s failed", sink.name)
                EXPORTER.sink_error(sink.name)


__all__ = ["AuditSink", "Condition", "FanOut", "LogSink", "MemorySink", "PrometheusSink"]
