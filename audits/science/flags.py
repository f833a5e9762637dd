"""Per-item grounding flags (DESIGN.md section 3), as a list of small checks.

Every check has a ``name`` and ``check(ctx) -> CheckResult`` (alibi-detect style); adding a flag
means adding one class. ``compute_flags`` derives the per-condition answers once into a
``FlagContext``, runs the checks and assembles ``ItemFlags``.

Conventions:

- Answer per condition: ``final_answer(output)`` when the condition was generated, else the
  argmax of ``option_logps`` (score mode, closed questions; ties go to the first letter), else
  none (score-only open question: only ``delta_logp`` is known).
- Skipped conditions land in ``ItemFlags.skipped`` with their reason and never produce a flip.
- The question kind (``question_kind``: closed, multiple-choice or open) decides how answers are
  extracted and compared. Closed and multiple-choice answers flip and are correct on an exact
  match after normalization. Open answers (DESIGN.md "Final answers from real outputs") flip
  when the content-token F1 of the two answers is below ``OPEN_FLIP_F1_THRESHOLD`` (or the
  ``f1_threshold`` passed in), and are correct when they recall at least
  ``OPEN_RECALL_THRESHOLD`` of the reference's content tokens (LLaVA-Med's open recall), or
  reach ``f1_threshold`` against it when one is given. With no question, options or reference
  the kind is unknown: two yes/no or letter answers compare exactly, anything else as open.
- An ``UNPARSED`` answer (no answer at all) is recorded in ``answers`` and counted by the
  aggregates, but a flip against it is unknown: the condition is left out of ``flips``.
  Correctness of an ``UNPARSED`` answer is False (no answer is not the right answer).
- ``delta_logp_c = logp_real - logp_c`` from ``logp`` when both conditions carry it, else from
  ``option_logps`` at the real answer's letter. It is flagged when below the threshold (default
  ``DEFAULT_DELTA_LOGP_THRESHOLD`` = 1.0 nat: the real image makes the answer less than
  e ≈ 2.7 times as likely as the counterfactual input does, i.e. the image barely matters).
  A negative delta (the answer got more likely without the real image) is flagged too.
- Claim spans index the real condition's raw output (they are found in its reasoning).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from audits.contracts.types import (
    COUNTERFACTUALS,
    UNPARSED,
    CheckResult,
    ClaimSpan,
    Condition,
    ConditionOutcome,
    ItemAudit,
    ItemFlags,
)
from audits.science.answer_extraction import Kind, final_answer, question_kind
from audits.science.claims import ClaimDetector, detect_visual_claims, is_modality_skeptic
from audits.science.conditions import (
    counterfactual_conditions,
    definition_of,
    registered,
    shown_instead,
)
from audits.science.open_answers import (
    OPEN_FLIP_F1_THRESHOLD,
    OPEN_RECALL_THRESHOLD,
    directions_swapped,
    open_answer_correct,
    open_answers_differ,
)
from audits.science.parsing import answers_match, normalize_answer, token_f1

DEFAULT_DELTA_LOGP_THRESHOLD = 1.0


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
        value = _hvr(ctx)
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
        value = _modality_skeptic(ctx)
        return CheckResult(
            name=self.name,
            flagged=value,
            score=float(value),
            meaning="flagged = the reasoning says the image does not fit the question (wrong "
            "modality or organ, not assessable), yet the answer is a confident one",
        )


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


def _hvr(ctx: FlagContext) -> bool | None:
    invariant = ctx.image_invariant()
    if invariant is None:
        return None
    return bool(ctx.claim_spans) and invariant


def _modality_skeptic(ctx: FlagContext) -> bool:
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


def _correctness(ctx: FlagContext) -> dict[Condition, bool] | None:
    if ctx.reference is None:
        return None
    reference = normalize_answer(ctx.reference, ctx.options)
    if reference == UNPARSED:
        return None
    return {
        condition: answer_correct(
            answer,
            _reference_under(condition, reference),
            kind=ctx.kind,
            f1_threshold=ctx.f1_threshold,
        )
        for condition, answer in ctx.answers.items()
    }


def _reference_under(condition: Condition, reference: str) -> str:
    if condition is Condition.REAL:
        return reference
    return definition_of(condition).reference_under(reference)


def answer_correct(
    answer: str, reference: str, *, kind: str | None, f1_threshold: float | None = None
) -> bool:
    """Whether a normalized final answer is right: exact for closed and multiple-choice
    questions; reference-token recall (or token-F1 with ``f1_threshold``) for open ones."""
    if kind != "open":
        return answers_match(answer, reference, f1_threshold=f1_threshold)
    if answer == UNPARSED:
        return False
    if open_answer_correct(answer, reference, threshold=OPEN_RECALL_THRESHOLD):
        return True
    if f1_threshold is None or directions_swapped(answer, reference):
        return False
    return token_f1(answer, reference) >= f1_threshold


def compute_flags(
    outcomes: Mapping[Condition, ConditionOutcome],
    *,
    options: Mapping[str, str] | None = None,
    reference: str | None = None,
    f1_threshold: float | None = None,
    claim_detector: ClaimDetector | None = None,
    checks: Sequence[FlagCheck] | None = None,
    question: str | None = None,
    answer_set: Sequence[str] | None = None,
) -> ItemFlags:
    """All per-item flags of one audited item; ``checks`` defaults to ``default_checks()``.

    ``question`` (optional) sets the question kind together with ``options`` and ``reference``
    (``question_kind``); pass it whenever it is known.
    """
    ctx = build_context(
        outcomes,
        options=options,
        reference=reference,
        f1_threshold=f1_threshold,
        claim_detector=claim_detector,
        question=question,
        answer_set=answer_set,
    )
    delta_logp: dict[Condition, float] = {}
    for condition in COUNTERFACTUALS:
        delta = ctx.delta_logp(condition)
        if delta is not None:
            delta_logp[condition] = delta
    invariant = ctx.image_invariant()
    return ItemFlags(
        answers=dict(ctx.answers),
        flips=ctx.flips(),
        delta_logp=delta_logp,
        correct=_correctness(ctx),
        claim_spans=list(ctx.claim_spans),
        visual_claim=bool(ctx.claim_spans),
        image_invariant=invariant,
        hvr=_hvr(ctx),
        modality_skeptic=_modality_skeptic(ctx),
        skipped=dict(ctx.skipped),
        checks=[check.check(ctx) for check in (checks if checks is not None else default_checks())],
    )


class ItemFacts(Protocol):
    """What an item says about itself: a manifest item or the shared fields of predictions."""

    question: str | None
    answer: str | None
    options: dict[str, str] | None
    answer_set: list[str] | None
    benchmark: str
    modality: str | None


def audited_item(
    item_id: str,
    facts: ItemFacts,
    outcomes: Mapping[Condition, ConditionOutcome],
    *,
    f1_threshold: float | None = None,
    claim_detector: ClaimDetector | None = None,
) -> ItemAudit:
    """An audited item: its facts, its outcomes and the flags computed from them."""
    flags = compute_flags(
        outcomes,
        options=facts.options,
        reference=facts.answer,
        f1_threshold=f1_threshold,
        claim_detector=claim_detector,
        question=facts.question,
        answer_set=facts.answer_set,
    )
    return ItemAudit(
        id=item_id,
        benchmark=facts.benchmark,
        question=facts.question,
        reference=facts.answer,
        options=facts.options,
        answer_set=facts.answer_set,
        modality=facts.modality,
        outcomes=dict(outcomes),
        flags=flags,
    )
