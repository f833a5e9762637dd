"""Interval estimates and tests used by every aggregate.

Wilson intervals and the exact McNemar test come from statsmodels; the paired-difference
interval (Newcombe 1998, method 10) and the ratio interval (MOVER-R, Donner & Zou 2012) are
built from those Wilson limits, as their papers define them. Bootstrap intervals remain for
quantities with no closed form (text-perturbation deltas, online feedback).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

Z_95 = 1.959963984540054
# resample cells (distinct pairs x resamples) per bootstrap chunk, to bound memory
_BOOT_CELLS = 2_000_000


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n == 0."""
    if n <= 0:
        return (0.0, 1.0)
    alpha = math.erfc(z / math.sqrt(2))
    lo, hi = proportion_confint(successes, n, alpha=alpha, method="wilson")
    # the closed form is exactly 0 at k = 0 and 1 at k = n; keep float noise out of reports
    lo = 0.0 if successes == 0 else max(0.0, float(lo))
    hi = 1.0 if successes == n else min(1.0, float(hi))
    return (lo, hi)


@dataclass(frozen=True)
class PairedCounts:
    """A 2x2 table of paired binary outcomes: ``both`` = 1 under the first and the second
    condition, ``first_only``, ``second_only``, ``neither``."""

    both: int
    first_only: int
    second_only: int
    neither: int

    @classmethod
    def of(cls, a: Sequence[float], b: Sequence[float]) -> PairedCounts:
        x, y = _as_pair(a, b)
        x1, y1 = x > 0.5, y > 0.5
        return cls(
            both=int(np.sum(x1 & y1)),
            first_only=int(np.sum(x1 & ~y1)),
            second_only=int(np.sum(~x1 & y1)),
            neither=int(np.sum(~x1 & ~y1)),
        )

    @property
    def n(self) -> int:
        return self.both + self.first_only + self.second_only + self.neither

    @property
    def first(self) -> int:
        return self.both + self.first_only

    @property
    def second(self) -> int:
        return self.both + self.second_only


NEWCOMBE_METHOD = "Newcombe hybrid score interval for paired proportions (1998, method 10)"
MOVER_METHOD = "MOVER-R ratio interval from Wilson limits (Donner & Zou 2012)"
MCNEMAR_METHOD = "exact binomial McNemar test, two-sided"


def newcombe_paired_diff(
    counts: PairedCounts, *, alpha: float = 0.05
) -> tuple[float, float, float]:
    """``p1 - p2`` for paired proportions with Newcombe's hybrid score interval (method 10).

    Unlike a bootstrap it keeps a non-zero width when every pair agrees or n is small.
    """
    n = counts.n
    if n == 0:
        raise ValueError("paired counts are empty")
    z = z_for(alpha)
    p1, p2 = counts.first / n, counts.second / n
    l1, u1 = wilson_interval(counts.first, n, z)
    l2, u2 = wilson_interval(counts.second, n, z)
    a, b, c, d = counts.both, counts.first_only, counts.second_only, counts.neither
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    # Newcombe's phi: the correlation with a continuity correction when ad > bc, which keeps
    # the interval from collapsing for perfectly concordant tables such as a = d, b = c = 0
    concordance = a * d - b * c
    if concordance > 0:
        concordance = max(concordance - n / 2, 0.0)
    phi = 0.0 if denominator == 0 else concordance / math.sqrt(denominator)
    delta = p1 - p2
    lower = delta - math.sqrt(
        max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    )
    upper = delta + math.sqrt(
        max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    )
    return delta, max(-1.0, lower), min(1.0, upper)


def mover_ratio(
    k1: int, n1: int, k2: int, n2: int, *, alpha: float = 0.05
) -> tuple[float, float, float] | None:
    """``p1 / p2`` with the MOVER-R interval from the two Wilson intervals; None when p2 = 0.

    The accuracies are treated as independent, which for positively correlated paired
    outcomes gives a wider (conservative) interval. The upper limit is ``inf`` when the
    Wilson interval of ``p2`` reaches 0.
    """
    if n1 <= 0 or n2 <= 0 or k2 == 0:
        return None
    z = z_for(alpha)
    t1, t2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, z)
    l2, u2 = wilson_interval(k2, n2, z)
    value = t1 / t2
    lower_disc = (t1 * t2) ** 2 - l1 * u2 * (2 * t1 - l1) * (2 * t2 - u2)
    lower_den = u2 * (2 * t2 - u2)
    lower = (t1 * t2 - math.sqrt(max(0.0, lower_disc))) / lower_den if lower_den > 0 else 0.0
    upper_disc = (t1 * t2) ** 2 - u1 * l2 * (2 * t1 - u1) * (2 * t2 - l2)
    upper_den = l2 * (2 * t2 - l2)
    upper = (t1 * t2 + math.sqrt(max(0.0, upper_disc))) / upper_den if upper_den > 0 else math.inf
    return value, max(0.0, min(lower, value)), max(upper, value)


def z_for(alpha: float) -> float:
    """The two-sided normal quantile of a ``1 - alpha`` interval."""
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    return NormalDist().inv_cdf(1 - alpha / 2)


def _as_pair(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"paired samples need equal 1-d lengths, got {x.shape} and {y.shape}")
    if x.size == 0:
        raise ValueError("paired samples are empty")
    return x, y


def _bootstrap_means(
    x: np.ndarray, y: np.ndarray, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Means of ``x`` and ``y`` over ``n_boot`` resamples that draw the same items for both.

    Resampling n items with replacement is drawing multinomial counts over the distinct
    (x, y) pairs, which is much cheaper for the usual 0/1 correctness data.
    """
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    rng = np.random.default_rng(seed)
    n = x.size
    pairs, counts = np.unique(np.stack([x, y], axis=1), axis=0, return_counts=True)
    probs = counts / n
    chunk = max(1, min(n_boot, _BOOT_CELLS // len(pairs)))
    mx = np.empty(n_boot)
    my = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        draws = rng.multinomial(n, probs, size=stop - start)
        mx[start:stop] = draws @ pairs[:, 0] / n
        my[start:stop] = draws @ pairs[:, 1] / n
    return mx, my


def _percentiles(values: np.ndarray, alpha: float) -> tuple[float, float]:
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    lo, hi = np.nanpercentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


def paired_bootstrap_diff(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """``mean(a) - mean(b)`` with a percentile interval; items are resampled jointly.

    ``a[i]`` and ``b[i]`` are the same item under two conditions. Deterministic for a seed.
    """
    x, y = _as_pair(a, b)
    value = float(x.mean() - y.mean())
    mx, my = _bootstrap_means(x, y, n_boot, seed)
    lo, hi = _percentiles(mx - my, alpha)
    return value, min(lo, value), max(hi, value)


def mcnemar(b: int, c: int, *, exact: bool = True) -> float:
    """Two-sided McNemar p-value from the discordant counts ``b`` and ``c`` (statsmodels).

    ``exact``: binomial test of ``min(b, c)`` under Binomial(b + c, 1/2) (valid for any count,
    the default here); otherwise the chi-square statistic with continuity correction.
    Returns 1.0 when there are no discordant pairs.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    if b + c == 0:
        return 1.0
    result = _sm_mcnemar([[0, b], [c, 0]], exact=exact, correction=True)
    return float(min(1.0, result.pvalue))


def pass_at_k_unbiased(n: int, c: int, k: int) -> float:
    """Unbiased Pass@k from ``n`` samples of which ``c`` are correct: 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) as a product, stable for large n
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return float(1.0 - miss)


def letter_distribution(
    option_logps: Mapping[str, float], letters: Iterable[str] | None = None
) -> dict[str, float]:
    """Softmax of the option letters' log-probabilities, renormalized over those letters only.

    ``letters`` restricts the support (default: every key). Keys keep their spelling.
    """
    keys = list(option_logps) if letters is None else [k for k in letters if k in option_logps]
    if not keys:
        raise ValueError("no option letters to build a distribution over")
    logps = np.array([option_logps[k] for k in keys], dtype=float)
    if np.isnan(logps).any():
        raise ValueError("option log-probabilities contain NaN")
    top = logps.max()
    if not np.isfinite(top):
        if top > 0:
            raise ValueError("option log-probabilities contain +inf")
        return {k: 1.0 / len(keys) for k in keys}
    weights = np.exp(logps - top)
    probs = weights / weights.sum()
    return {k: float(p) for k, p in zip(keys, probs, strict=True)}


def entropy(dist: Mapping[str, float], *, base: float = math.e) -> float:
    """Shannon entropy of a discrete distribution, in nats by default (``base=2`` for bits).

    The probabilities are renormalized to sum to 1; zero entries contribute nothing.
    """
    p = np.array(list(dist.values()), dtype=float)
    if p.size == 0 or (p < 0).any() or p.sum() <= 0:
        raise ValueError("entropy needs non-negative probabilities with a positive sum")
    p = p / p.sum()
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / math.log(base))
