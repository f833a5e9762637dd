"""Per-item grounding flags (DESIGN.md section 3), as a list of small checks.

Every check (``checks``) has a ``name`` and ``check(ctx) -> CheckResult`` (alibi-detect style);
adding a flag means adding one class. ``compute_flags`` derives the per-condition answers once
into a ``FlagContext`` (``flag_context``), runs the checks and assembles ``ItemFlags``.

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

from collections.abc import Mapping, Sequence
from typing import Protocol

from audits.contracts.types import (
    COUNTERFACTUALS,
    UNPARSED,
    Condition,
    ConditionOutcome,
    ItemAudit,
    ItemFlags,
)
from audits.science.checks import FlagCheck, default_checks, hvr, modality_skeptic
from audits.science.claims import ClaimDetector
from audits.science.conditions import definition_of
from audits.science.flag_context import FlagContext, build_context
from audits.science.open_answers import (
    OPEN_RECALL_THRESHOLD,
    directions_swapped,
    open_answer_correct,
)
from audits.science.parsing import answers_match, normalize_answer, token_f1


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
        hvr=hvr(ctx),
        modality_skeptic=modality_skeptic(ctx),
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
