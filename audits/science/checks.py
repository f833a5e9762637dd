"""The per-item checks (alibi-detect style: a ``name`` and ``check(ctx) -> CheckResult``);
adding a flag means adding one class here, or one in a condition's own module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from audits.contracts.types import COUNTERFACTUALS, CheckResult, Condition
from audits.science.conditions import counterfactual_conditions, registered, shown_instead
from audits.science.flag_context import FlagContext
from audits.science.modality_skeptic import is_modality_skeptic

DEFAULT_DELTA_LOGP_THRESHOLD = 1.0


class FlagCheck(Protocol):
    name: str

    def check(self, ctx: FlagContext) -> CheckResult: ...


@dataclass(frozen=True)
class AnswerFlipCheck:
    """flip_c: the counterfactual answer differs from the real one."""

    condition: Condition

    @property
    def name(self) -> str:
        return f"flip_{self.condition.value}"

    def check(self, ctx: FlagContext) -> CheckResult:
        value = ctx.flip(self.condition)
        meta: dict[str, object] = {
            "answer_real": ctx.answers.get(Condition.REAL),
            "answer": ctx.answers.get(self.condition),
        }
        if self.condition in ctx.skipped:
            meta["skipped"] = ctx.skipped[self.condition]
        real, other = meta["answer_real"], meta["answer"]
        threshold: float | None = None
        if isinstance(real, str) and isinstance(other, str) and ctx.open_answers(real, other):
            threshold = ctx.flip_f1_threshold
        return CheckResult(
            name=self.name,
            flagged=bool(value),
            score=None if value is None else float(value),
            threshold=threshold,
            meta=meta,
            meaning=f"flagged = the final answer changed when the model was shown "
            f"{shown_instead(self.condition)} instead of the real one (score 1 = changed, 0 = "
            "the same, none = not comparable: skipped or no answer on one side)",
        )


@dataclass(frozen=True)
class LikelihoodShiftCheck:
    """delta_logp_c below the threshold: the image barely changes the answer's likelihood."""

    condition: Condition
    threshold: float = DEFAULT_DELTA_LOGP_THRESHOLD

    @property
    def name(self) -> str:
        return f"delta_logp_{self.condition.value}"

    def check(self, ctx: FlagContext) -> CheckResult:
        delta = ctx.delta_logp(self.condition)
        return CheckResult(
            name=self.name,
            flagged=delta is not None and delta < self.threshold,
            score=delta,
            threshold=self.threshold,
            meaning=f"flagged = the answer's log-probability fell by less than "
            f"{self.threshold:g} nats when the model was shown {shown_instead(self.condition)}: "
            "the answer barely depends on the image (score = logp_real - "
            f"logp_{self.condition.value}; large positive = the real image supports the answer)",
        )


@dataclass(frozen=True)
class VisualClaimCheck:
    name: str = "visual_claim"

    def check(self, ctx: FlagContext) -> CheckResult:
        spans = ctx.claim_spans
        return CheckResult(
            name=self.name,
            flagged=bool(spans),
            score=float(len(spans)),
            meta={"categories": sorted({s.category for s in spans})},
            meaning="flagged = the output states something about this image (a finding, "
            "location, size, modality ...); score = the number of such sentences",
        )


@dataclass(frozen=True)
class ImageInvariantCheck:
    name: str = "image_invariant"

    def check(self, ctx: FlagContext) -> CheckResult:
        value = ctx.image_invariant()
        return CheckResult(
            name=self.name,
            flagged=bool(value),
            score=None if value is None else float(value),
            meta={"compared": sorted(c.value for c in ctx.invariance_flips())},
            meaning="flagged = no counterfactual that could be compared changed the answer",
        )


@dataclass(frozen=True)
class HallucinatedReasoningCheck:
    """hvr: visual claims in the reasoning, yet no counterfactual changed the answer."""

    name: str = "hvr"

    def check(self, ctx: FlagContext) -> CheckResult:
        value = hvr(ctx)
        return CheckResult(
            name=self.name,
            flagged=bool(value),
            score=None if value is None else float(value),
            meaning="flagged = hallucinated visual reasoning: the output makes visual claims, "
            "yet no counterfactual changed the answer",
        )


@dataclass(frozen=True)
class ModalitySkepticCheck:
    name: str = "modality_skeptic"

    def check(self, ctx: FlagContext) -> CheckResult:
        value = modality_skeptic(ctx)
        return CheckResult(
            name=self.name,
            flagged=value,
            score=float(value),
            meaning="flagged = the reasoning says the image does not fit the question (wrong "
            "modality or organ, not assessable), yet the answer is a confident one",
        )


def hvr(ctx: FlagContext) -> bool | None:
    invariant = ctx.image_invariant()
    if invariant is None:
        return None
    return bool(ctx.claim_spans) and invariant


def modality_skeptic(ctx: FlagContext) -> bool:
    output = ctx.real_output
    answer = ctx.answers.get(Condition.REAL)
    if not output or answer is None:
        return False
    return is_modality_skeptic(output, answer)


def default_checks(
    delta_logp_threshold: float = DEFAULT_DELTA_LOGP_THRESHOLD,
) -> list[FlagCheck]:
    """The flip check of every condition, the likelihood-shift check of the counterfactuals
    that remove the image, the item-level checks, and each registered condition's own."""
    checks: list[FlagCheck] = [AnswerFlipCheck(c) for c in COUNTERFACTUALS]
    checks += [LikelihoodShiftCheck(c, delta_logp_threshold) for c in counterfactual_conditions()]
    checks += [
        VisualClaimCheck(),
        ImageInvariantCheck(),
        HallucinatedReasoningCheck(),
        ModalitySkepticCheck(),
    ]
    for definition in registered():
        checks += definition.checks()
    return checks
