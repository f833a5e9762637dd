"""GET /audits/{id} answers a typed record: the Redis fields read back into StoredAuditRecord."""

from __future__ import annotations

from audits.contracts.audit_record import AuditRecord, StoredAuditRecord
from audits.contracts.types import ClaimSpan, Condition, ItemFlags

CLAIM = ClaimSpan(start=0, end=7, text="opacity", category="finding", trigger="shows")


def record(*, retain: bool) -> AuditRecord:
    return AuditRecord(
        request_id="req-1",
        ts=1_700_000_000.25,
        model="m",
        image_id="ab" * 32,
        mode="both",
        conditions=[Condition.SHUFFLED, Condition.BLANK],
        skipped={Condition.NO_IMAGE: "not configured"},
        flags=ItemFlags(
            flips={Condition.SHUFFLED: True, Condition.BLANK: False},
            delta_logp={Condition.SHUFFLED: 1.5},
            claim_spans=[CLAIM, CLAIM],
            visual_claim=True,
            image_invariant=False,
            hvr=False,
        ),
        answer_fingerprints={Condition.REAL: "fp-real", Condition.SHUFFLED: "fp-shuffled"},
        duration_ms=12.5,
        question="Is there a lesion?" if retain else None,
        outputs={Condition.REAL: "yes"} if retain else None,
    )


def test_the_stored_fields_read_back_typed() -> None:
    original = record(retain=False)
    fields = original.to_redis_fields() | {"reference_fp": "fp-ref", "correct_real": "1"}
    stored = StoredAuditRecord.from_redis_fields(fields)
    assert stored.request_id == "req-1" and stored.audit_id == original.audit_id
    assert stored.ts == 1_700_000_000.25 and stored.duration_ms == 12.5
    assert stored.conditions == [Condition.SHUFFLED, Condition.BLANK]
    assert stored.skipped == {Condition.NO_IMAGE: "not configured"}
    assert stored.flips == {
        Condition.SHUFFLED: True,
        Condition.BLANK: False,
        Condition.NO_IMAGE: None,
        Condition.FLIPPED: None,
    }
    assert stored.delta_logp[Condition.SHUFFLED] == 1.5
    assert stored.delta_logp[Condition.BLANK] is None
    assert stored.visual_claims == 2 and stored.hvr is False and stored.image_invariant is False
    assert stored.modality_skeptic is False
    assert stored.answer_fingerprints == original.answer_fingerprints
    assert stored.question is None and stored.outputs is None
    assert stored.reference_fp == "fp-ref" and stored.correct == {Condition.REAL: True}


def test_retained_text_reads_back_and_json_types_are_not_strings() -> None:
    stored = StoredAuditRecord.from_redis_fields(record(retain=True).to_redis_fields())
    assert stored.question == "Is there a lesion?"
    assert stored.outputs == {Condition.REAL: "yes"}
    dumped = stored.model_dump(mode="json")
    assert dumped["flips"]["shuffled"] is True and dumped["visual_claims"] == 2
    assert isinstance(dumped["ts"], float) and dumped["hvr"] is False
