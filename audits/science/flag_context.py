"""The per-item context every check reads: the answer under each condition (extracted once),
skips, the question kind and the claim spans of the real output (conventions: ``flags``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from audits.contracts.types import (
    COUNTERFACTUALS,
    UNPARSED,
    ClaimSpan,
    Condition,
    ConditionOutcome,
)
from audits.science.answer_extraction import Kind, final_answer, question_kind
from audits.science.claims import ClaimDetector, detect_visual_claims
from audits.science.conditions import counterfactual_conditions
from audits.science.open_answers import OPEN_FLIP_F1_THRESHOLD, open_answers_differ
from audits.science.parsing import answers_match, normalize_answer


def _categorical(answer: str) -> bool:
    return answer in ("yes", "no") or (len(answer) == 1 and answer.isalpha() and answer.isupper())


@dataclass
class FlagContext:
    """Everything a check may look at, derived once per item."""

    outcomes: Mapping[Condition, ConditionOutcome]
    options: Mapping[str, str] | None = None
    reference: str | None = None
    f1_threshold: float | None = None
    question: str | None = None
    kind: Kind | None = None
    answer_set: Sequence[str] | None = None
    answers: dict[Condition, str] = field(default_factory=dict)
    skipped: dict[Condition, str] = field(default_factory=dict)
    claim_spans: list[ClaimSpan] = field(default_factory=list)

    @property
    def real_output(self) -> str | None:
        real = self.outcomes.get(Condition.REAL)
        if real is None or real.skipped:
            return None
        return real.output

    def open_answers(self, a: str, b: str) -> bool:
        """Whether two answers are compared by the open-answer rule (token F1)."""
        if self.kind == "open":
            return True
        return self.kind is None and not (_categorical(a) and _categorical(b))

    @property
    def flip_f1_threshold(self) -> float:
        return OPEN_FLIP_F1_THRESHOLD if self.f1_threshold is None else self.f1_threshold

    def flip(self, condition: Condition) -> bool | None:
        """flip_c, or None when it is unknown (skipped, not run, or no answer on either side,
        ``UNPARSED`` included: a missing answer is not a changed answer)."""
        real = self.answers.get(Condition.REAL)
        other = self.answers.get(condition)
        if real is None or other is None or UNPARSED in (real, other):
            return None
        if self.open_answers(real, other):
            return open_answers_differ(real, other, threshold=self.flip_f1_threshold)
        return not answers_match(real, other)

    def flips(self) -> dict[Condition, bool]:
        out: dict[Condition, bool] = {}
        for condition in COUNTERFACTUALS:
            value = self.flip(condition)
            if value is not None:
                out[condition] = value
        return out

    def invariance_flips(self) -> dict[Condition, bool]:
        """The flips of the conditions that replace or remove the image (not ``flipped``,
        whose right answer may change)."""
        removing = counterfactual_conditions()
        return {c: flip for c, flip in self.flips().items() if c in removing}

    def image_invariant(self) -> bool | None:
        flips = self.invariance_flips()
        return (not any(flips.values())) if flips else None

    def delta_logp(self, condition: Condition) -> float | None:
        real = self.outcomes.get(Condition.REAL)
        other = self.outcomes.get(condition)
        if real is None or other is None or real.skipped or other.skipped:
            return None
        delta: float | None = None
        if real.logp is not None and other.logp is not None:
            delta = real.logp - other.logp
        elif real.option_logps and other.option_logps:
            letter = self.answers.get(Condition.REAL)
            by_letter_real = _by_letter(real.option_logps)
            by_letter_other = _by_letter(other.option_logps)
            if letter in by_letter_real and letter in by_letter_other:
                delta = by_letter_real[letter] - by_letter_other[letter]
        if delta is None or math.isnan(delta):
            return None
        return delta


def _by_letter(option_logps: Mapping[str, float]) -> dict[str, float]:
    return {key.strip().upper(): value for key, value in option_logps.items()}


def _argmax_letter(option_logps: Mapping[str, float]) -> str | None:
    scored = [
        (key, value)
        for key, value in sorted(_by_letter(option_logps).items())
        if key and not math.isnan(value)
    ]
    if not scored:
        return None
    best = max(value for _, value in scored)
    return next(key for key, value in scored if value == best)


def _answer(
    outcome: ConditionOutcome,
    options: Mapping[str, str] | None,
    kind: Kind | None = None,
    question: str | None = None,
    answer_set: Sequence[str] | None = None,
) -> str | None:
    if outcome.output is not None:
        return final_answer(
            outcome.output, options, kind=kind, question=question, answer_set=answer_set
        )
    if outcome.option_logps:
        letter = _argmax_letter(outcome.option_logps)
        if letter is not None:
            return normalize_answer(letter, options)
    return None


def _claim_spans(output: str | None, detector: ClaimDetector | None) -> list[ClaimSpan]:
    """Claims anywhere in the real output: the reasoning, an explanation after the answer, or a
    short answer that states a finding; the bare answer token itself is never a claim."""
    if not output:
        return []
    return detector.detect(output) if detector is not None else detect_visual_claims(output)


def build_context(
    outcomes: Mapping[Condition, ConditionOutcome],
    *,
    options: Mapping[str, str] | None = None,
    reference: str | None = None,
    f1_threshold: float | None = None,
    claim_detector: ClaimDetector | None = None,
    question: str | None = None,
    answer_set: Sequence[str] | None = None,
) -> FlagContext:
    ctx = FlagContext(
        outcomes={Condition(c): o for c, o in outcomes.items()},
        options=options,
        reference=reference,
        f1_threshold=f1_threshold,
        question=question,
        kind=question_kind(question, options, reference, answer_set),
        answer_set=answer_set,
    )
    for condition, outcome in ctx.outcomes.items():
        if outcome.skipped:
            ctx.skipped[condition] = outcome.skip_reason or "skipped"
            continue
        answer = _answer(outcome, options, ctx.kind, question, answer_set)
        if answer is not None:
            ctx.answers[condition] = answer
    ctx.claim_spans = _claim_spans(ctx.real_output, claim_detector)
    return ctx
