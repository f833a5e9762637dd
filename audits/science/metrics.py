"""Aggregate grounding metrics (DESIGN.md section 3, "Aggregates") per benchmark and overall.

Rates carry Wilson intervals. Differences are paired (the items scored under both conditions)
and carry the paired n, the two paired accuracies and Newcombe's hybrid score interval, which
keeps its width on small or all-agreeing samples; blank retention carries the MOVER-R interval.
The McNemar test is the exact binomial one. Anything that cannot be computed (no references, no
counterfactual answers, no generated text) is ``None``, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field, create_model

from audits.contracts.types import ALL_CONDITIONS, COUNTERFACTUALS, UNPARSED, Condition, ItemAudit
from audits.science.answer_extraction import question_kind
from audits.science.estimates import (
    ConditionCounts,
    DeltaLogpSummary,
    Diff,
    McNemarResult,
    Rate,
    Ratio,
    paired_diff,
    rate_k,
    rate_of,
)
from audits.science.intervals import (
    MCNEMAR_METHOD,
    MOVER_METHOD,
    NEWCOMBE_METHOD,
    PairedCounts,
    mcnemar,
    mover_ratio,
)
from audits.science.open_answers import (
    OPEN_FLIP_F1_THRESHOLD,
    OPEN_RECALL_THRESHOLD,
    open_answers_differ,
)
from audits.science.parsing import normalize_answer
from audits.science.rates import RateInputs, item_rates

OVERALL = "Overall"
HIST_BINS = 20


class _BenchmarkFigures(BaseModel):
    benchmark: str
    n_items: int
    n_with_reference: int
    conditions: dict[Condition, ConditionCounts]
    accuracy: dict[Condition, Rate | None]
    """Per condition, against the right answer under it (``reference_under``: the mirrored side
    for ``flipped``, the real image's reference for the others)."""
    vrs: Diff | None
    """Visual reliance score Acc_real - Acc_shuffled, paired over items scored under both."""
    flip_rate: dict[Condition, Rate | None]
    """Mean flip_c for every condition (shuffled = IS, blank = IS_blank)."""
    blank_retention: Ratio | None
    """Acc_blank / Acc_real, paired."""
    multimodal_gain: Diff | None
    """Acc_real - Acc_no_image, paired."""
    mcnemar: McNemarResult | None
    delta_logp: dict[Condition, DeltaLogpSummary | None]

    def rate(self, name: str) -> Rate | None:
        """A registered rate by name (``audits.science.rates``)."""
        return getattr(self, name)


BenchmarkMetrics = create_model(
    "BenchmarkMetrics",
    __base__=_BenchmarkFigures,
    __doc__="The figures of one benchmark (or overall): the fixed ones above and every "
    "registered rate (``audits.science.rates``) under its name, with its Wilson interval.",
    **{
        rate.name: (Rate | None, Field(None, description=rate.description)) for rate in item_rates()
    },
)


class AuditMetrics(BaseModel):
    n_boot: int
    seed: int
    alpha: float
    thresholds: dict[str, float] = {
        "open_recall": OPEN_RECALL_THRESHOLD,
        "open_flip_f1": OPEN_FLIP_F1_THRESHOLD,
    }
    """Open answers: correct at reference-token recall >= open_recall; two open answers differ
    (a flip) at token-F1 < open_flip_f1."""
    methods: dict[str, str] = {
        "rates": "Wilson score interval",
        "differences": NEWCOMBE_METHOD,
        "blank_retention": MOVER_METHOD,
        "mcnemar": MCNEMAR_METHOD,
    }
    overall: BenchmarkMetrics
    benchmarks: dict[str, BenchmarkMetrics]
    """Per benchmark, sorted by name."""


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
    rate_inputs: RateInputs

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
        ran = frozenset((set(answers) | set(outcomes)) - skipped)
        return cls(
            answers=answers,
            flips={c.value: f for c, f in flags.flips.items()},
            correct=None
            if flags.correct is None
            else {c.value: v for c, v in flags.correct.items()},
            delta_logp={c.value: d for c, d in flags.delta_logp.items()},
            ran=ran,
            skipped=frozenset(skipped),
            has_reference=item.reference is not None or flags.correct is not None,
            rate_inputs=RateInputs(
                flags=flags, has_text=has_text, ran=ran, oracle_flip=oracle_flip(item)
            ),
        )


def oracle_flip(item: ItemAudit) -> bool | None:
    """Whether the shuffled image's correct answer differs from the item's own: what a
    perfectly grounded model's flip would be. None without both reference answers."""
    ref, other = item.reference, item.shuffled_reference
    if ref is None or other is None:
        return None
    kind = question_kind(item.question, item.options, ref, item.answer_set)
    if kind == "open":
        return open_answers_differ(ref, other)
    return normalize_answer(ref, item.options) != normalize_answer(other, item.options)


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
    counts = PairedCounts.of(a, b)
    result = mover_ratio(counts.first, counts.n, counts.second, counts.n, alpha=s.alpha)
    if result is None:
        return None
    value, lo, hi = result
    return Ratio(
        value=value,
        lo=lo,
        hi=hi,
        n=counts.n,
        first=rate_k(counts.first, counts.n, s.alpha),
        second=rate_k(counts.second, counts.n, s.alpha),
    )


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
    rates = {
        rate.name: _rate(
            (v for v in (rate.value(view.rate_inputs) for view in views) if v is not None), s
        )
        for rate in item_rates()
    }
    return BenchmarkMetrics(
        benchmark=name,
        n_items=len(views),
        n_with_reference=sum(v.has_reference for v in views),
        conditions={c: _counts(views, c.value) for c in ALL_CONDITIONS},
        accuracy={c: _accuracy(views, c.value, s) for c in ALL_CONDITIONS},
        vrs=_diff(views, _REAL, _SHUFFLED, s),
        flip_rate={c: _flip_rate(views, c.value, s) for c in COUNTERFACTUALS},
        blank_retention=_ratio(views, _BLANK, _REAL, s),
        multimodal_gain=_diff(views, _REAL, _NO_IMAGE, s),
        mcnemar=_mcnemar(views),
        delta_logp={c: _deltas(views, c.value) for c in COUNTERFACTUALS},
        **rates,
    )
