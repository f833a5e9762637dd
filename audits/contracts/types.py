"""Core data shapes shared by the online service and the offline suite."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Condition(StrEnum):
    REAL = "real"
    SHUFFLED = "shuffled"
    BLANK = "blank"
    NO_IMAGE = "no_image"
    FLIPPED = "flipped"


COUNTERFACTUALS: tuple[Condition, ...] = tuple(c for c in Condition if c is not Condition.REAL)
"""Every condition but the real one (what each is, and which are audited by default:
``audits.science.conditions``)."""
ALL_CONDITIONS: tuple[Condition, ...] = tuple(Condition)

UNPARSED = "<unparsed>"

AuditMode = Literal["generate", "score", "both"]
"""generate: a greedy answer per condition; score: one teacher-forced pass; both."""


class ConditionOutcome(BaseModel):
    """What the model did under one condition of one item."""

    model_config = ConfigDict(frozen=True)

    condition: Condition
    skipped: bool = False
    skip_reason: str | None = None
    output: str | None = None
    """Raw generated text (generate mode)."""
    logp: float | None = None
    """Teacher-forced log-probability of the production/real answer (score mode)."""
    option_logps: dict[str, float] | None = None
    """Log-probability of each closed-question option (score mode); argmax is the answer."""


class CheckResult(BaseModel):
    """Uniform result of every grounding check (alibi-detect style)."""

    model_config = ConfigDict(frozen=True)

    name: str
    flagged: bool
    score: float | None = None
    threshold: float | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    meaning: str | None = None
    """What ``flagged`` says about this item, in words (score and threshold included)."""


class ClaimSpan(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: int
    end: int
    text: str
    category: str
    trigger: str


class ItemFlags(BaseModel):
    """Per-item grounding flags (DESIGN.md s.3) from ``audits.science.flags.compute_flags``."""

    answers: dict[Condition, str] = Field(default_factory=dict)
    """Normalized final answer per condition that produced one (``UNPARSED`` is a class)."""
    flips: dict[Condition, bool] = Field(default_factory=dict)
    """flip_c for every counterfactual condition that ran and produced an answer."""
    delta_logp: dict[Condition, float] = Field(default_factory=dict)
    """logp_real - logp_c for every counterfactual condition with both scores."""
    correct: dict[Condition, bool] | None = None
    """Correctness per condition; None without a reference answer."""
    claim_spans: list[ClaimSpan] = Field(default_factory=list)
    visual_claim: bool = False
    image_invariant: bool | None = None
    """None when no counterfactual answer was available to compare."""
    hvr: bool | None = None
    modality_skeptic: bool = False
    skipped: dict[Condition, str] = Field(default_factory=dict)
    """Conditions that could not run, with the reason (e.g. empty shuffle pool)."""
    checks: list[CheckResult] = Field(default_factory=list)


class ItemAudit(BaseModel):
    """One audited item: its inputs' metadata, the outcome per condition and the flags."""

    id: str
    benchmark: str = "default"
    question: str | None = None
    reference: str | None = None
    options: dict[str, str] | None = None
    answer_set: list[str] | None = None
    modality: str | None = None
    shuffled_reference: str | None = None
    """The reference answer of the item whose image served as this item's shuffled image."""
    outcomes: dict[Condition, ConditionOutcome] = Field(default_factory=dict)
    flags: ItemFlags
