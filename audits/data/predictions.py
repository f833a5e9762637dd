"""Predictions files (JSONL, DESIGN.md section 4): audit outputs produced elsewhere, no model.

One line per (item, condition): ``id``, ``condition`` (real or a registered condition:
shuffled | blank | no_image | flipped, ``audits.science.conditions``),
``output`` (raw model text), optional ``answer`` (reference), ``benchmark``, ``options``,
``question``, ``modality``. A condition that could not run may be given as
``{"skipped": true, "skip_reason": "..."}`` without an output.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from audits.contracts.types import Condition, ConditionOutcome, ItemAudit
from audits.data.manifest import options_to_str, read_jsonl_models, scalar_to_str
from audits.science.claims import ClaimDetector
from audits.science.flags import audited_item


class PredictionRow(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    condition: Condition
    output: str | None = None
    answer: str | None = None
    benchmark: str = "default"
    options: dict[str, str] | None = None
    answer_set: list[str] | None = None
    question: str | None = None
    modality: str | None = None
    skipped: bool = False
    skip_reason: str | None = None

    _scalar_to_str = field_validator("id", "answer", mode="before")(scalar_to_str)
    _options_to_str = field_validator("options", mode="before")(options_to_str)

    @model_validator(mode="after")
    def _output_or_skipped(self) -> PredictionRow:
        if self.output is None and not self.skipped:
            raise ValueError("output is required unless the row is skipped")
        return self


def read_predictions(path: str | Path) -> list[PredictionRow]:
    """Every row of a predictions file; ``ValueError`` names the file and line of a bad row."""
    path = Path(path)
    return [row for _, row in read_jsonl_models(path, PredictionRow)]


class _ItemFields(BaseModel):
    answer: str | None = None
    benchmark: str = "default"
    options: dict[str, str] | None = None
    answer_set: list[str] | None = None
    question: str | None = None
    modality: str | None = None


def _merge_shared(item_id: str, rows: list[PredictionRow]) -> _ItemFields:
    """Item-level fields may be given on any row of the item but must agree where given."""
    merged: dict[str, object] = {}
    for name in _ItemFields.model_fields:
        values = [getattr(r, name) for r in rows if name in r.model_fields_set]
        values = [v for v in values if v is not None]
        if any(v != values[0] for v in values[1:]):
            raise ValueError(f"item {item_id!r}: rows disagree on {name!r}")
        if values:
            merged[name] = values[0]
    return _ItemFields.model_validate(merged)


def audits_from_predictions(
    rows: Iterable[PredictionRow],
    *,
    f1_threshold: float | None = None,
    claim_detector: ClaimDetector | None = None,
) -> list[ItemAudit]:
    """Group rows by item id (first-seen order) and compute each item's flags."""
    grouped: dict[str, list[PredictionRow]] = {}
    for row in rows:
        group = grouped.setdefault(row.id, [])
        if any(r.condition == row.condition for r in group):
            raise ValueError(f"item {row.id!r}: condition {row.condition.value!r} given twice")
        group.append(row)
    audits: list[ItemAudit] = []
    for item_id, group in grouped.items():
        shared = _merge_shared(item_id, group)
        outcomes = {
            r.condition: ConditionOutcome(
                condition=r.condition,
                output=None if r.skipped else r.output,
                skipped=r.skipped,
                skip_reason=(r.skip_reason or "skipped") if r.skipped else None,
            )
            for r in group
        }
        audits.append(
            audited_item(
                item_id,
                shared,
                outcomes,
                f1_threshold=f1_threshold,
                claim_detector=claim_detector,
            )
        )
    return audits
