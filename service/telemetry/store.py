"""Looking records up and attaching feedback; the in-memory store for runs without Redis."""

from __future__ import annotations

import hmac
from typing import Protocol

from audits.contracts.audit_record import AuditRecord
from audits.contracts.types import Condition
from audits.science.conditions import definition_of
from audits.science.parsing import normalize_answer
from service.identity import answer_fingerprint
from service.telemetry.sinks import MemorySink


class RecordStore(Protocol):
    async def get(self, request_id: str) -> dict[str, str] | None: ...

    async def add_feedback(
        self, request_id: str, reference: str
    ) -> dict[Condition, bool] | None: ...


def correctness(fields: dict[str, str], reference: str, secret: str) -> dict[Condition, bool]:
    """Compare the right answer under each condition (the reference; its mirrored side under
    ``flipped``) with the condition's stored answer fingerprint."""
    result: dict[Condition, bool] = {}
    for condition in Condition:
        stored = fields.get(f"answer_fp_{condition.value}")
        if stored:
            right = reference
            if condition is not Condition.REAL:
                right = definition_of(condition).reference_under(reference)
            expected = answer_fingerprint(normalize_answer(right), secret)
            result[condition] = hmac.compare_digest(stored, expected)
    return result


class MemoryRecordStore:
    def __init__(self, sink: MemorySink, secret: str) -> None:
        self._sink = sink
        self._secret = secret
        self.feedback: dict[str, dict[Condition, bool]] = {}

    def _find(self, request_id: str) -> AuditRecord | None:
        for record in reversed(self._sink.records):
            if record.request_id == request_id:
                return record
        return None

    async def get(self, request_id: str) -> dict[str, str] | None:
        record = self._find(request_id)
        if record is None:
            return None
        fields = record.to_redis_fields()
        for condition, ok in self.feedback.get(request_id, {}).items():
            fields[f"correct_{condition.value}"] = str(int(ok))
        return fields

    async def add_feedback(self, request_id: str, reference: str) -> dict[Condition, bool] | None:
        record = self._find(request_id)
        if record is None:
            return None
        result = correctness(record.to_redis_fields(), reference, self._secret)
        self.feedback[request_id] = result
        return result
