"""The shapes of the audit's estimates, each with its interval: a proportion (Wilson), a paired
difference (Newcombe or bootstrap), a ratio (MOVER-R), McNemar's test, counts per condition and a
delta_logp distribution; and the two estimators the other modules share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from audits.science.intervals import (
    MCNEMAR_METHOD,
    MOVER_METHOD,
    NEWCOMBE_METHOD,
    PairedCounts,
    newcombe_paired_diff,
    paired_bootstrap_diff,
    wilson_interval,
    z_for,
)


class Rate(BaseModel):
    """A proportion ``k / n`` with its Wilson interval."""

    model_config = ConfigDict(frozen=True)

    value: float
    lo: float
    hi: float
    n: int
    k: int


class Diff(BaseModel):
    """A paired difference ``first - second`` over the ``n`` items that have both values."""

    model_config = ConfigDict(frozen=True)

    value: float
    lo: float
    hi: float
    n: int
    first: Rate | None = None
    """The first accuracy on the paired items (it can differ from the unpaired column)."""
    second: Rate | None = None
    method: str = "paired percentile bootstrap"


class Ratio(BaseModel):
    """A ratio ``first / second`` of accuracies over the ``n`` items that have both values."""

    model_config = ConfigDict(frozen=True)

    value: float
    lo: float
    hi: float
    """``inf`` when the denominator's interval reaches 0."""
    n: int
    first: Rate | None = None
    second: Rate | None = None
    method: str = MOVER_METHOD


class McNemarResult(BaseModel):
    """McNemar test of Acc_real vs Acc_shuffled on the ``n`` items with both correctness values.

    ``b``: correct with the real image only; ``c``: correct with the shuffled image only.
    """

    model_config = ConfigDict(frozen=True)

    n: int
    b: int
    c: int
    p_value: float
    method: str = MCNEMAR_METHOD


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


def rate_of(flags: Iterable[bool], *, alpha: float = 0.05) -> Rate | None:
    """The share of True values with its Wilson interval; None for no values."""
    values = [bool(v) for v in flags]
    return rate_k(sum(values), len(values), alpha) if values else None


def paired_diff(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Diff | None:
    """``mean(a) - mean(b)`` over paired items; None for no items.

    0/1 outcomes (accuracies) get Newcombe's paired score interval and their paired rates;
    other values (e.g. probabilities) a paired percentile bootstrap.
    """
    if len(a) == 0:
        return None
    if all(v in (0.0, 1.0) for v in (*a, *b)):
        counts = PairedCounts.of(a, b)
        value, lo, hi = newcombe_paired_diff(counts, alpha=alpha)
        return Diff(
            value=value,
            lo=lo,
            hi=hi,
            n=counts.n,
            first=rate_k(counts.first, counts.n, alpha),
            second=rate_k(counts.second, counts.n, alpha),
            method=NEWCOMBE_METHOD,
        )
    value, lo, hi = paired_bootstrap_diff(a, b, n_boot=n_boot, seed=seed, alpha=alpha)
    return Diff(value=value, lo=lo, hi=hi, n=len(a))


def rate_k(k: int, n: int, alpha: float) -> Rate:
    lo, hi = wilson_interval(k, n, z=z_for(alpha))
    return Rate(value=k / n, lo=lo, hi=hi, n=n, k=k)
