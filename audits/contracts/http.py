"""The HTTP report schema of ``/audit`` and ``/audits/{id}``: written by the service, read by the
offline HTTP client. One definition, so the two cannot drift apart."""

from __future__ import annotations

from pydantic import BaseModel, Field

from audits.contracts.audit_record import StoredAuditRecord
from audits.contracts.types import CheckResult, ClaimSpan, Condition


class ConditionReport(BaseModel):
    condition: Condition
    skipped: bool = False
    skip_reason: str | None = None
    raw_output: str | None = None
    answer: str | None = None
    correct: bool | None = None
    logp: float | None = None
    option_logps: dict[str, float] | None = None
    delta_logp: float | None = None
    flip: bool | None = None


class AuditReport(BaseModel):
    request_id: str
    model: str
    image_id: str
    mode: str
    conditions: list[ConditionReport]
    claim_spans: list[ClaimSpan]
    visual_claim: bool
    image_invariant: bool | None
    hvr: bool | None
    modality_skeptic: bool
    checks: list[CheckResult] = Field(default_factory=list)
    """Every grounding check's uniform result (name, flagged, score, threshold)."""
    timings_ms: dict[str, float]


class StoredAudit(BaseModel):
    request_id: str
    record: StoredAuditRecord
    """The latest record of this request id (a reused id keeps every record in the stream)."""
