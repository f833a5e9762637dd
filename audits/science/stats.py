"""Interval estimates and tests used by every aggregate."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

Z_95 = 1.959963984540054
# resample cells (distinct pairs x resamples) per bootstrap chunk, to bound memory
_BOOT_CELLS = 2_000_000


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n == 0."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


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


def bootstrap_ratio(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float] | None:
    """``mean(a) / mean(b)`` (e.g. blank retention Acc_blank / Acc_real) with a paired
    percentile interval; None when ``mean(b)`` is 0. Resamples whose ``mean(b)`` is 0 are
    left out of the interval."""
    x, y = _as_pair(a, b)
    if y.mean() == 0:
        return None
    value = float(x.mean() / y.mean())
    mx, my = _bootstrap_means(x, y, n_boot, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(my != 0, mx / np.where(my != 0, my, 1.0), np.nan)
    lo, hi = _percentiles(ratios, alpha)
    return value, min(lo, value), max(hi, value)


def mcnemar(b: int, c: int, *, exact: bool = True) -> float:
    """Two-sided McNemar p-value from the discordant counts ``b`` and ``c``.

    ``exact``: binomial test of ``min(b, c)`` under Binomial(b + c, 1/2) (valid for any count);
    otherwise the chi-square statistic with continuity correction, 1 degree of freedom.
    Returns 1.0 when there are no discordant pairs.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    n = b + c
    if n == 0:
        return 1.0
    if not exact:
        stat = (abs(b - c) - 1) ** 2 / n if b != c else 0.0
        return float(min(1.0, math.erfc(math.sqrt(stat / 2))))
    k = min(b, c)
    log_half_n = n * math.log(0.5)
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n
        for i in range(k + 1)
    ]
    top = max(log_terms)
    tail = math.exp(top) * math.fsum(math.exp(t - top) for t in log_terms)
    return float(min(1.0, 2 * tail))


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
