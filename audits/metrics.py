"""Aggregate grounding metrics (DESIGN.md section 3, "Aggregates") per benchmark and overall.

Rates carry Wilson intervals; differences and ratios carry paired percentile-bootstrap
intervals over the items that have both quantities. Anything that cannot be computed (no
references, no counterfactual answers, no generated text) is ``None``, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from statistics import NormalDist

import numpy as np
from pydantic import BaseModel, ConfigDict

from audits.stats import bootstrap_ratio, mcnemar, paired_bootstrap_diff, wilson_interval
from audits.types import ALL_CONDITIONS, COUNTERFACTUALS, UNPARSED, Condition, ItemAudit

OVERALL = "Overall"
HIST_BINS = 20


class Rate(BaseModel):
    """A proportion ``k / n`` with its Wilson interval."""

    model_config = ConfigDict(frozen=True)

    value: float
    lo: float
    hi: float
    n: int
    k: int


class Diff(BaseModel):
    """A paired difference of means with its bootstrap interval over ``n`` items."""

    model_config = ConfigDict(frozen=True)

    value: float
    lo: float
    hi: float
    n: int


class Ratio(BaseModel):
    """A paired ratio of means with its bootstrap interval over ``n`` items."""

    model_config = ConfigDict(frozen=True)

    value: float
    lo: float
    hi: float
    n: int


class McNemarResult(BaseModel):
    """McNemar test of Acc_real vs Acc_shuffled on the ``n`` items with both correctness values.

    ``b``: correct with the real image only; ``c``: correct with the shuffled image only.
    """

    model_config = ConfigDict(frozen=True)

    n: int
    b: int
    c: int
    p_value: float


class ConditionCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    run: int
    """Items where the condition ran (it has an answer or a non-skipped outcome)."""
    skipped: int
    answered: int
    """Items with a parsed answer (not ``<unparsed>``)."""
    unparsed: int
    scored: int
    """Items with a correctness value (a reference answer was available)."""


class DeltaLogpSummary(BaseModel):
    """Distribution of ``delta_logp_c = logp_real - logp_c`` over the items that have it."""

    model_config = ConfigDict(frozen=True)

    n: int
    mean: float
    median: float
    std: float
    min: float
    max: float
    hist_edges: list[float]
    hist_counts: list[int]


class BenchmarkMetrics(BaseModel):
    benchmark: str
    n_items: int
    n_with_reference: int
    conditions: dict[Condition, ConditionCounts]
    accuracy: dict[Condition, Rate | None]
    vrs: Diff | None
    """Visual reliance score Acc_real - Acc_shuffled, paired over items scored under both."""
    image_sensitivity: Rate | None
    """IS: mean flip_shuffled."""
    is_blank: Rate | None
    flip_rate: dict[Condition, Rate | None]
    """Mean flip_c for every counterfactual condition (shuffled = IS, blank = IS_blank)."""
    blank_retention: Ratio | None
    """Acc_blank / Acc_real, paired."""
    multimodal_gain: Diff | None
    """Acc_real - Acc_no_image, paired."""
    visual_claim_rate: Rate | None
    """Over items whose real output is text (generate mode)."""
    hvrr: Rate | None
    """Joint rate of hvr over items with text and a known image_invariant."""
    p_invariant_given_claim: Rate | None
    image_invariant_rate: Rate | None
    modality_skeptic_rate: Rate | None
    mcnemar: McNemarResult | None
    delta_logp: dict[Condition, DeltaLogpSummary | None]


class AuditMetrics(BaseModel):
    n_boot: int
    seed: int
    alpha: float
    overall: BenchmarkMetrics
    benchmarks: dict[str, BenchmarkMetrics]
    """Per benchmark, sorted by name."""


class PaperFigure(BaseModel):
    """One reference figure reported by the seed paper (Qwen2.5-VL-7B variants)."""

    model_config = ConfigDict(frozen=True)

    metric: str
    benchmark: str
    model: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    note: str = ""


PAPER_REFERENCE: tuple[PaperFigure, ...] = (
    PaperFigure(metric="IS", benchmark=OVERALL, model="base", value=0.482),
    PaperFigure(
        metric="IS",
        benchmark=OVERALL,
        model="image-text RLVR",
        value=0.398,
        note="accuracy 58.8%",
    ),
    PaperFigure(metric="Acc_real", benchmark=OVERALL, model="image-text RLVR", value=0.588),
    PaperFigure(
        metric="IS", benchmark="VQA-RAD", model="image-text", value=0.29, note="from 43% to 29%"
    ),
    PaperFigure(metric="Acc_real", benchmark="PathVQA", model="text-only RLVR", value=0.56),
    PaperFigure(metric="Acc_shuffled", benchmark="PathVQA", model="text-only RLVR", value=0.65),
    PaperFigure(metric="VRS", benchmark="PathVQA", model="text-only RLVR", value=-0.09),
    PaperFigure(
        metric="blank retention",
        benchmark="VQA-RAD",
        model="text-only RLVR",
        value=0.81,
        note="keeps 81% of its accuracy with a blank image",
    ),
    PaperFigure(metric="visual-claim rate", benchmark=OVERALL, model="all", low=0.68, high=0.74),
    PaperFigure(metric="HVRR", benchmark=OVERALL, model="all", low=0.38, high=0.43),
    PaperFigure(
        metric="P(invariant | claim)",
        benchmark=OVERALL,
        model="image-text RLVR",
        value=0.61,
        note="share of visual claims that did not influence the answer",
    ),
)


def compute_metrics(
    items: Sequence[ItemAudit], *, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05
) -> AuditMetrics:
    """Every aggregate of DESIGN.md section 3 for all ``items`` and for each benchmark."""
    by_benchmark: dict[str, list[ItemAudit]] = {}
    for item in items:
        by_benchmark.setdefault(item.benchmark, []).append(item)
    settings = _Settings(n_boot=n_boot, seed=seed, alpha=alpha)
    return AuditMetrics(
        n_boot=n_boot,
        seed=seed,
        alpha=alpha,
        overall=_benchmark_metrics(OVERALL, items, settings),
        benchmarks={
            name: _benchmark_metrics(name, by_benchmark[name], settings)
            for name in sorted(by_benchmark)
        },
    )


class _Settings(BaseModel):
    n_boot: int
    seed: int
    alpha: float


def rate_of(flags: Iterable[bool], *, alpha: float = 0.05) -> Rate | None:
    """The share of True values with its Wilson interval; None for no values."""
    values = [bool(v) for v in flags]
    n, k = len(values), sum(values)
    if n == 0:
        return None
    lo, hi = wilson_interval(k, n, z=NormalDist().inv_cdf(1 - alpha / 2))
    return Rate(value=k / n, lo=lo, hi=hi, n=n, k=k)


def paired_diff(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Diff | None:
    """``mean(a) - mean(b)`` over paired items with a bootstrap interval; None for no items."""
    if len(a) == 0:
        return None
    value, lo, hi = paired_bootstrap_diff(a, b, n_boot=n_boot, seed=seed, alpha=alpha)
    return Diff(value=value, lo=lo, hi=hi, n=len(a))


def _rate(flags: Iterable[bool], s: _Settings) -> Rate | None:
    return rate_of(flags, alpha=s.alpha)


def _paired(
    items: Sequence[ItemAudit], first: Condition, second: Condition
) -> tuple[list[float], list[float]]:
    a: list[float] = []
    b: list[float] = []
    for item in items:
        correct = item.flags.correct
        if correct is not None and first in correct and second in correct:
            a.append(float(correct[first]))
            b.append(float(correct[second]))
    return a, b


def _diff(
    items: Sequence[ItemAudit], first: Condition, second: Condition, s: _Settings
) -> Diff | None:
    a, b = _paired(items, first, second)
    return paired_diff(a, b, n_boot=s.n_boot, seed=s.seed, alpha=s.alpha)


def _ratio(
    items: Sequence[ItemAudit], num: Condition, den: Condition, s: _Settings
) -> Ratio | None:
    a, b = _paired(items, num, den)
    if not a:
        return None
    result = bootstrap_ratio(a, b, n_boot=s.n_boot, seed=s.seed, alpha=s.alpha)
    if result is None:
        return None
    value, lo, hi = result
    return Ratio(value=value, lo=lo, hi=hi, n=len(a))


def _ran(item: ItemAudit, condition: Condition) -> bool:
    if condition in item.flags.skipped:
        return False
    outcome = item.outcomes.get(condition)
    if outcome is not None and outcome.skipped:
        return False
    return condition in item.flags.answers or outcome is not None


def _was_skipped(item: ItemAudit, condition: Condition) -> bool:
    outcome = item.outcomes.get(condition)
    return condition in item.flags.skipped or (outcome is not None and outcome.skipped)


def _counts(items: Sequence[ItemAudit], condition: Condition) -> ConditionCounts:
    answers = [item.flags.answers.get(condition) for item in items]
    return ConditionCounts(
        run=sum(_ran(item, condition) for item in items),
        skipped=sum(_was_skipped(item, condition) for item in items),
        answered=sum(a is not None and a != UNPARSED for a in answers),
        unparsed=sum(a == UNPARSED for a in answers),
        scored=sum(
            item.flags.correct is not None and condition in item.flags.correct for item in items
        ),
    )


def _has_text(item: ItemAudit) -> bool:
    """The real condition produced generated text, so visual claims could be looked for."""
    if item.flags.visual_claim:
        return True
    outcome = item.outcomes.get(Condition.REAL)
    return outcome is not None and not outcome.skipped and outcome.output is not None


def _hvr(item: ItemAudit) -> bool:
    if item.flags.hvr is not None:
        return item.flags.hvr
    return bool(item.flags.visual_claim and item.flags.image_invariant)


def _select(
    items: Sequence[ItemAudit],
    keep: Callable[[ItemAudit], bool],
    value: Callable[[ItemAudit], bool],
) -> list[bool]:
    return [value(item) for item in items if keep(item)]


def _delta_summary(values: list[float]) -> DeltaLogpSummary | None:
    finite = np.array([v for v in values if math.isfinite(v)], dtype=float)
    if finite.size == 0:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(finite, bins=HIST_BINS, range=(lo, hi))
    return DeltaLogpSummary(
        n=int(finite.size),
        mean=float(finite.mean()),
        median=float(np.median(finite)),
        std=float(finite.std()),
        min=float(finite.min()),
        max=float(finite.max()),
        hist_edges=[float(e) for e in edges],
        hist_counts=[int(c) for c in counts],
    )


def _mcnemar(items: Sequence[ItemAudit]) -> McNemarResult | None:
    a, b = _paired(items, Condition.REAL, Condition.SHUFFLED)
    if not a:
        return None
    only_real = sum(x == 1 and y == 0 for x, y in zip(a, b, strict=True))
    only_shuffled = sum(x == 0 and y == 1 for x, y in zip(a, b, strict=True))
    return McNemarResult(
        n=len(a), b=only_real, c=only_shuffled, p_value=mcnemar(only_real, only_shuffled)
    )


def _benchmark_metrics(name: str, items: Sequence[ItemAudit], s: _Settings) -> BenchmarkMetrics:
    accuracy = {
        c: _rate(
            (
                item.flags.correct[c]
                for item in items
                if item.flags.correct is not None and c in item.flags.correct
            ),
            s,
        )
        for c in ALL_CONDITIONS
    }
    flip_rate = {
        c: _rate((item.flags.flips[c] for item in items if c in item.flags.flips), s)
        for c in COUNTERFACTUALS
    }
    known_invariance = [item for item in items if item.flags.image_invariant is not None]
    return BenchmarkMetrics(
        benchmark=name,
        n_items=len(items),
        n_with_reference=sum(
            item.reference is not None or item.flags.correct is not None for item in items
        ),
        conditions={c: _counts(items, c) for c in ALL_CONDITIONS},
        accuracy=accuracy,
        vrs=_diff(items, Condition.REAL, Condition.SHUFFLED, s),
        image_sensitivity=flip_rate[Condition.SHUFFLED],
        is_blank=flip_rate[Condition.BLANK],
        flip_rate=flip_rate,
        blank_retention=_ratio(items, Condition.BLANK, Condition.REAL, s),
        multimodal_gain=_diff(items, Condition.REAL, Condition.NO_IMAGE, s),
        visual_claim_rate=_rate(_select(items, _has_text, lambda i: i.flags.visual_claim), s),
        hvrr=_rate(_select(known_invariance, _has_text, _hvr), s),
        p_invariant_given_claim=_rate(
            _select(
                known_invariance,
                lambda i: i.flags.visual_claim,
                lambda i: bool(i.flags.image_invariant),
            ),
            s,
        ),
        image_invariant_rate=_rate(
            (bool(item.flags.image_invariant) for item in known_invariance), s
        ),
        modality_skeptic_rate=_rate(
            _select(items, _has_text, lambda i: i.flags.modality_skeptic), s
        ),
        mcnemar=_mcnemar(items),
        delta_logp={
            c: _delta_summary(
                [item.flags.delta_logp[c] for item in items if c in item.flags.delta_logp]
            )
            for c in COUNTERFACTUALS
        },
    )
