"""The audit record: what a completed audit leaves behind (Redis schema of DESIGN.md s.4)."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from audits.contracts.types import Condition, ItemFlags
from audits.science.flags import flags_to_record_fields
from audits.science.item_audit import ItemAuditResult


class AuditRecord(BaseModel):
    request_id: str
    ts: float = Field(default_factory=time.time)
    model: str
    image_id: str
    mode: str
    source: str = "mirror"
    conditions: list[Condition]
    """Counterfactual conditions that ran (skipped ones are in ``skipped``)."""
    skipped: dict[Condition, str] = Field(default_factory=dict)
    flags: ItemFlags
    answer_fingerprints: dict[Condition, str] = Field(default_factory=dict)
    duration_ms: float
    question: str | None = None
    outputs: dict[Condition, str] | None = None
    """Raw outputs; only when the operator turned text retention on."""

    @property
    def flip_shuffled(self) -> bool | None:
        return self.flags.flips.get(Condition.SHUFFLED)

    def to_redis_fields(self) -> dict[str, str]:
        fields: dict[str, str | int | float] = {
            "request_id": self.request_id,
            "ts": f"{self.ts:.3f}",
            "model": self.model,
            "image_id": self.image_id,
            "mode": self.mode,
            "source": self.source,
            "conditions": ",".join(c.value for c in self.conditions),
            "skipped": ",".join(f"{c.value}:{why}" for c, why in self.skipped.items()),
            "duration_ms": f"{self.duration_ms:.1f}",
        }
        fields.update(flags_to_record_fields(self.flags))
        for condition, fingerprint in self.answer_fingerprints.items():
            fields[f"answer_fp_{condition.value}"] = fingerprint
        if self.question is not None:
            fields["question"] = self.question
        for condition, text in (self.outputs or {}).items():
            fields[f"output_{condition.value}"] = text
        return {key: str(value) for key, value in fields.items()}


def build_record(
    *,
    request_id: str,
    model: str,
    image_id: str,
    mode: str,
    source: str,
    result: ItemAuditResult,
    answer_fingerprints: dict[Condition, str],
    question: str | None,
    retain_text: bool,
) -> AuditRecord:
    ran = [
        condition
        for condition, outcome in result.outcomes.items()
        if condition is not Condition.REAL and not outcome.skipped
    ]
    outputs = {
        condition: outcome.output
        for condition, outcome in result.outcomes.items()
        if outcome.output is not None
    }
    return AuditRecord(
        request_id=request_id,
        model=model,
        image_id=image_id,
        mode=mode,
        source=source,
        conditions=ran,
        skipped=result.flags.skipped,
        flags=result.flags,
        answer_fingerprints=answer_fingerprints,
        duration_ms=result.duration_ms,
        question=question if retain_text else None,
        outputs=outputs if retain_text else None,
    )
