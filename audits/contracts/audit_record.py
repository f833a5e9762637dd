"""The audit record and its field encoding: what a completed audit leaves in the Redis stream and
hash (DESIGN.md section 4), read back by ``GET /audits/{id}``, ``/feedback`` and ``/stats``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

from pydantic import BaseModel, Field

from audits.contracts.types import COUNTERFACTUALS, Condition, ItemFlags


def _binary(value: bool | None) -> int | str:
    return "" if value is None else int(value)


def flags_to_record_fields(flags: ItemFlags) -> dict[str, str | int | float]:
    """The flag fields of a ``{grounding}:audits`` stream entry.

    Unknown values (a skipped or unanswered condition, no comparison possible) are written as
    the empty string, never as 0, so aggregates can leave them out.
    """
    fields: dict[str, str | int | float] = {}
    for condition in COUNTERFACTUALS:
        fields[f"flip_{condition.value}"] = _binary(flags.flips.get(condition))
        delta = flags.delta_logp.get(condition)
        fields[f"delta_logp_{condition.value}"] = "" if delta is None else float(delta)
    fields["visual_claims"] = len(flags.claim_spans)
    fields["hvr"] = _binary(flags.hvr)
    fields["modality_skeptic"] = int(flags.modality_skeptic)
    fields["image_invariant"] = _binary(flags.image_invariant)
    return fields


class AuditRecord(BaseModel):
    request_id: str
    audit_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    """Unique per audit: a retried write carries the same one, a reused request id another."""
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
    modality: str = "unknown"
    """Modality label (a fixed small set, ``audits.data.dicom.MODALITY_LABELS``)."""
    question_kind: str = "unknown"
    """``closed`` (yes/no), ``mc``, ``open`` or ``unknown``: with the modality, the stratum of
    the case-mix-aware drift detector."""
    question: str | None = None
    outputs: dict[Condition, str] | None = None
    """Raw outputs; only when the operator turned text retention on."""

    @property
    def flip_shuffled(self) -> bool | None:
        return self.flags.flips.get(Condition.SHUFFLED)

    def to_redis_fields(self) -> dict[str, str]:
        fields: dict[str, str | int | float] = {
            "request_id": self.request_id,
            "audit_id": self.audit_id,
            "ts": f"{self.ts:.3f}",
            "model": self.model,
            "image_id": self.image_id,
            "mode": self.mode,
            "source": self.source,
            "modality": self.modality,
            "question_kind": self.question_kind,
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


def _flag(text: str | None) -> bool | None:
    return None if text in (None, "") else text == "1"


def _number(text: str | None) -> float | None:
    return None if text in (None, "") else float(text)


class StoredAuditRecord(BaseModel):
    """An audit record as kept in Redis and answered by ``GET /audits/{id}``, typed.

    What ``AuditRecord.to_redis_fields`` keeps of an ``AuditRecord`` (no answer or claim text
    unless the operator turned text retention on), plus the feedback attached to it."""

    request_id: str
    audit_id: str | None = None
    """None for records written before audit ids existed."""
    ts: float
    model: str
    image_id: str
    mode: str
    source: str
    conditions: list[Condition]
    skipped: dict[Condition, str] = Field(default_factory=dict)
    duration_ms: float
    flips: dict[Condition, bool | None]
    """Per counterfactual condition; None when unknown (skipped or unanswered)."""
    delta_logp: dict[Condition, float | None]
    visual_claims: int
    """Number of visual-claim spans in the real output."""
    hvr: bool | None
    modality_skeptic: bool
    image_invariant: bool | None
    answer_fingerprints: dict[Condition, str] = Field(default_factory=dict)
    question: str | None = None
    outputs: dict[Condition, str] | None = None
    reference_fp: str | None = None
    """Fingerprint of the reference answer sent to ``/feedback``, if any."""
    correct: dict[Condition, bool] = Field(default_factory=dict)
    """Per condition, from ``/feedback``."""

    @classmethod
    def from_redis_fields(cls, fields: Mapping[str, str]) -> StoredAuditRecord:
        def per_condition(prefix: str) -> dict[Condition, str]:
            named = {c: f"{prefix}{c.value}" for c in Condition}
            return {c: fields[name] for c, name in named.items() if name in fields}

        def listed(name: str) -> list[str]:
            return [part for part in fields.get(name, "").split(",") if part]

        skipped = {}
        for part in listed("skipped"):
            condition, _, why = part.partition(":")
            skipped[Condition(condition)] = why
        outputs = per_condition("output_")
        return cls(
            request_id=fields["request_id"],
            audit_id=fields.get("audit_id"),
            ts=float(fields["ts"]),
            model=fields["model"],
            image_id=fields["image_id"],
            mode=fields["mode"],
            source=fields.get("source", "mirror"),
            conditions=[
                Condition(c) for c in filter(None, fields.get("conditions", "").split(","))
            ],
            skipped=skipped,
            duration_ms=float(fields["duration_ms"]),
            flips={c: _flag(fields.get(f"flip_{c.value}")) for c in COUNTERFACTUALS},
            delta_logp={c: _number(fields.get(f"delta_logp_{c.value}")) for c in COUNTERFACTUALS},
            visual_claims=int(fields.get("visual_claims", "0")),
            hvr=_flag(fields.get("hvr")),
            modality_skeptic=fields.get("modality_skeptic") == "1",
            image_invariant=_flag(fields.get("image_invariant")),
            answer_fingerprints=per_condition("answer_fp_"),
            question=fields.get("question"),
            outputs=outputs or None,
            reference_fp=fields.get("reference_fp"),
            correct={c: v == "1" for c, v in per_condition("correct_").items()},
        )
