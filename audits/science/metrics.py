"""Aggregate grounding metrics (DESIGN.md section 3, "Aggregates") per benchmark and overall.

Rates carry Wilson intervals; differences and ratios carry paired percentile-bootstrap
intervals over the items that have both quantities. Anything that cannot be computed (no
references, no counterfactual answers, no generated text) is ``None``, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from pydantic import BaseModel, ConfigDict

from audits.contracts.types import ALL_CONDITIONS, COUNTERFACTUALS, UNPARSED, Condition, ItemAudit
from audits.science.stats import bootstrap_ratio, mcnemar, paired_bootstrap_diff, wilson_interval

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
    views = [_View.of(item) for item in items]
    by_benchmark: dict[str, list[_View]] = {}
    for item, view in zip(items, views, strict=True):
        by_benchmark.setdefault(item.benchmark, []).append(view)
    settings = _Settings(n_boot=n_boot, seed=seed, alpha=alpha)
    return AuditMetrics(
        n_boot=n_boot,
        seed=seed,
        alpha=alpha,
        overall=_benchmark_metrics(OVERALL, views, settings),
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


_plain = str.__str__  # a Condition's value as a plain str (C-level, no enum descriptor)


@dataclass(slots=True)
class _View:
    """The per-item quantities the aggregates need, keyed by plain condition strings.

    Built once per item: StrEnum keys hash through Python code, which dominates large audits.
    """

    answers: dict[str, str]
    flips: dict[str, bool]
    correct: dict[str, bool] | None
    delta_logp: dict[str, float]
    ran: frozenset[str]
    skipped: frozenset[str]
    has_reference: bool
    has_text: bool
    visual_claim: bool
    image_invariant: bool | None
    hvr: bool
    modality_skeptic: bool

    @classmethod
    def of(cls, item: ItemAudit) -> _View:
        flags = item.flags
        outcomes = {_plain(c): o for c, o in item.outcomes.items()}
        answers = {_plain(c): a for c, a in flags.answers.items()}
        skipped = {_plain(c) for c in flags.skipped} | {c for c, o in outcomes.items() if o.skipped}
        real = outcomes.get(Condition.REAL.value)
        has_text = flags.visual_claim or (
            real is not None and not real.skipped and real.output is not None
        )
        hvr = flags.hvr
        if hvr is None:
            hvr = bool(flags.visual_claim and flags.image_invariant)
        return cls(
            answers=answers,
            flips={c.value: f for c, f in flags.flips.items()},
            correct=None
            if flags.correct is None
            else {c.value: v for c, v in flags.correct.items()},
            delta_logp={c.value: d for c, d in flags.delta_logp.items()},
            ran=frozenset((set(answers) | set(outcomes)) - skipped),
            skipped=frozenset(skipped),
            has_reference=item.reference is not None or flags.correct is not None,
            has_text=has_text,
            visual_claim=flags.visual_claim,
            image_invariant=flags.image_invariant,
            hvr=hvr,
            modality_skeptic=flags.modality_skeptic,
        )


def _rate(flags: Iterable[bool], s: _Settings) -> Rate | None:
    return rate_of(flags, alpha=s.alpha)


def _paired(views: Sequence[_View], first: str, second: str) -> tuple[list[float], list[float]]:
    a: list[float] = []
    b: list[float] = []
    for v in views:
        if v.correct is not None and first in v.correct and second in v.correct:
            a.append(float(v.correct[first]))
            b.append(float(v.correct[second]))
    return a, b


def _diff(views: Sequence[_View], first: str, second: str, s: _Settings) -> Diff | None:
    a, b = _paired(views, first, second)
    return paired_diff(a, b, n_boot=s.n_boot, seed=s.seed, alpha=s.alpha)


def _ratio(views: Sequence[_View], num: str, den: str, s: _Settings) -> Ratio | None:
    a, b = _paired(views, num, den)
    if not a:
        return None
    result = bootstrap_ratio(a, b, n_boot=s.n_boot, seed=s.seed, alpha=s.alpha)
    if result is None:
        return None
    value, lo, hi = result
    return Ratio(value=value, lo=lo, hi=hi, n=len(a))


def _counts(views: Sequence[_View], c: str) -> ConditionCounts:
    answers = [v.answers.get(c) for v in views]
    return ConditionCounts(
        run=sum(c in v.ran for v in views),
        skipped=sum(c in v.skipped for v in views),
        answered=sum(a is not None and a != UNPARSED for a in answers),
        unparsed=sum(a == UNPARSED for a in answers),
        scored=sum(v.correct is not None and c in v.correct for v in views),
    )


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


def _mcnemar(views: Sequence[_View]) -> McNemarResult | None:
    a, b = _paired(views, _REAL, _SHUFFLED)
    if not a:
        return None
    only_real = sum(x == 1 and y == 0 for x, y in zip(a, b, strict=True))
    only_shuffled = sum(x == 0 and y == 1 for x, y in zip(a, b, strict=True))
    return McNemarResult(
        n=len(a), b=only_real, c=only_shuffled, p_value=mcnemar(only_real, only_shuffled)
    )


_REAL, _SHUFFLED = Condition.REAL.value, Condition.SHUFFLED.value
_BLANK, _NO_IMAGE = Condition.BLANK.value, Condition.NO_IMAGE.value


def _accuracy(views: Sequence[_View], key: str, s: _Settings) -> Rate | None:
    return _rate((v.correct[key] for v in views if v.correct is not None and key in v.correct), s)


def _flip_rate(views: Sequence[_View], key: str, s: _Settings) -> Rate | None:
    return _rate((v.flips[key] for v in views if key in v.flips), s)


def _deltas(views: Sequence[_View], key: str) -> DeltaLogpSummary | None:
    return _delta_summary([v.delta_logp[key] for v in views if key in v.delta_logp])


def _benchmark_metrics(name: str, views: Sequence[_View], s: _Settings) -> BenchmarkMetrics:
    accuracy = {c: _accuracy(views, c.value, s) for c in ALL_CONDITIONS}
    flip_rate = {c: _flip_rate(views, c.value, s) for c in COUNTERFACTUALS}
    known = [v for v in views if v.image_invariant is not None]
    return BenchmarkMetrics(
        benchmark=name,
        n_items=len(views),
        n_with_reference=sum(v.has_reference for v in views),
        conditions={c: _counts(views, c.value) for c in ALL_CONDITIONS},
        accuracy=accuracy,
        vrs=_diff(views, _REAL, _SHUFFLED, s),
        image_sensitivity=flip_rate[Condition.SHUFFLED],
        is_blank=flip_rate[Condition.BLANK],
        flip_rate=flip_rate,
        blank_retention=_ratio(views, _BLANK, _REAL, s),
        multimodal_gain=_diff(views, _REAL, _NO_IMAGE, s),
        visual_claim_rate=_rate((v.visual_claim for v in views if v.has_text), s),
        hvrr=_rate((v.hvr for v in known if v.has_text), s),
        p_invariant_given_claim=_rate(
            (bool(v.image_invariant) for v in known if v.visual_claim), s
        ),
        image_invariant_rate=_rate((bool(v.image_invariant) for v in known), s),
        modality_skeptic_rate=_rate((v.modality_skeptic for v in views if v.has_text), s),
        mcnemar=_mcnemar(views),
        delta_logp={c: _deltas(views, c.value) for c in COUNTERFACTUALS},
    )
