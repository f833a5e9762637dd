"""What a finished audit becomes: the on-demand report (``build_report``) and the record of a
mirrored audit (``mirror_record``)."""

from __future__ import annotations

from audits.contracts.audit_record import AuditRecord
from audits.contracts.http import AuditReport, ConditionReport
from audits.contracts.types import ALL_CONDITIONS, AuditMode
from audits.science.answer_extraction import question_kind
from audits.science.audit_steps import ItemAuditResult
from service.identity import answer_fingerprint
from service.requests import ProductionRequest
from service.telemetry.record_builder import build_record


def mirror_record(
    request: ProductionRequest,
    result: ItemAuditResult,
    *,
    model: str,
    mode: AuditMode,
    secret: str,
    retain_text: bool,
) -> AuditRecord:
    """The record of a mirrored audit; answers kept as keyed fingerprints, text only when
    ``retain_text``."""
    return build_record(
        request_id=request.request_id,
        model=model,
        image_id=request.image_id,
        mode=mode,
        source="mirror",
        result=result,
        answer_fingerprints={
            c: answer_fingerprint(a, secret) for c, a in result.flags.answers.items()
        },
        question=request.question,
        retain_text=retain_text,
        modality=request.modality,
        question_kind=question_kind(request.question, request.options),
    )


def build_report(
    request: ProductionRequest, model: str, mode: str, result: ItemAuditResult
) -> AuditReport:
    flags = result.flags
    reports = []
    for condition in ALL_CONDITIONS:
        outcome = result.outcomes.get(condition)
        if outcome is None:
            continue
        reports.append(
            ConditionReport(
                condition=condition,
                skipped=outcome.skipped,
                skip_reason=outcome.skip_reason,
                raw_output=outcome.output,
                answer=flags.answers.get(condition),
                correct=(flags.correct or {}).get(condition),
                logp=outcome.logp,
                option_logps=outcome.option_logps,
                delta_logp=flags.delta_logp.get(condition),
                flip=flags.flips.get(condition),
            )
        )
    return AuditReport(
        request_id=request.request_id,
        model=model,
        image_id=request.image_id,
        mode=mode,
        conditions=reports,
        claim_spans=flags.claim_spans,
        visual_claim=flags.visual_claim,
        image_invariant=flags.image_invariant,
        hvr=flags.hvr,
        modality_skeptic=flags.modality_skeptic,
        checks=flags.checks,
        timings_ms={**result.timings_ms, "total": result.duration_ms},
    )
