"""Builds the audit record (``audits.contracts.audit_record``) of a completed audit."""

from __future__ import annotations

from audits.contracts.audit_record import AuditRecord
from audits.contracts.types import Condition
from audits.science.audit_steps import ItemAuditResult


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
    modality: str = "unknown",
    question_kind: str | None = None,
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
        modality=modality,
        question_kind=question_kind or "unknown",
        question=question if retain_text else None,
        outputs=outputs if retain_text else None,
    )
