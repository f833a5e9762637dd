"""Case-mix-aware drift detection: a risk-adjusted Bernoulli CUSUM with per-stratum baselines.

A pooled CUSUM on ``flip_shuffled`` compares every audit with one baseline rate, so a change in
the mix of traffic (more open questions, fewer CTs) moves the pooled rate and raises an alarm
with no change in the model. The risk-adjusted CUSUM (Steiner, Cook, Farewell, Treasure 2000,
*Monitoring surgical performance using risk-adjusted cumulative sum charts*, Biostatistics
1(4)) compares each audit with the in-control rate of its own stratum: the log-likelihood ratio
of one observation uses that observation's baseline ``p0_s``::

    w_s(x=1) = log(p1_s / p0_s),   w_s(x=0) = log((1 - p1_s) / (1 - p0_s))
    S_n = max(0, S_{n-1} + w_{s_n}(x_n)),   alarm at the first n with S_n >= h

Strata are question kind (closed yes/no, multiple choice, open) times modality label. The
alternative in each stratum follows the pooled detector's rule (``design.design_p1``: a drop of
0.15, not below half), so with a single stratum the statistic is exactly the pooled one. Steiner
et al. specify the alternative as an odds ratio instead; an absolute drop keeps the stratified
and the pooled detector designed alike.

Baselines: a stratum with at least ``min_stratum_n`` baseline audits gets its own rate (clamped
into [0.01, 0.99]); thinner strata, and strata never seen, use the pooled rate.

Threshold: the largest of the pooled detector's designed thresholds (``default_threshold``: 5%
false alarms within 1000 in-control audits) for each stratum's rate and the pooled rate, and a
threshold simulated for the baseline mix. Because every pure-stratum stream and the baseline mix
meet the 5% design, a change of mix alone stays within it (``docs/drift.md`` shows the
simulations).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from audits.science.drift.cusum import CusumState
from audits.science.drift.design import (
    DEFAULT_ALPHA,
    DEFAULT_HORIZON,
    DEFAULT_SEED,
    RunLengthSummary,
    default_threshold,
    design_p1,
)

MIN_STRATUM_N = 30
"""Baseline audits a stratum needs for its own rate; thinner strata use the pooled rate."""
P0_MIN, P0_MAX = 0.01, 0.99
"""A CUSUM needs 0 < p0 < 1: an observed baseline rate is clamped into this range."""
QUESTION_KINDS = ("closed", "mc", "open", "unknown")
_H_STEPS = 10_000
_BLOCK = 512


def stratum_of(kind: str | None, modality: str | None) -> str:
    """``<question kind>|<modality label>``, e.g. ``closed|CT``."""
    return f"{kind or 'unknown'}|{modality or 'unknown'}"


def clamp_rate(rate: float) -> float:
    return min(P0_MAX, max(P0_MIN, rate))


class StratumBaseline(BaseModel):
    model_config = ConfigDict(frozen=True)

    p0: float = Field(gt=0, lt=1)
    p1: float
    w_flip: float
    w_stable: float
    n: int
    rate: float = Field(ge=0, le=1)

    @classmethod
    def for_counts(cls, n: int, k: int) -> StratumBaseline:
        rate = k / n
        p0 = clamp_rate(rate)
        p1 = design_p1(p0)
        return cls(
            p0=p0,
            p1=p1,
            w_flip=math.log(p1 / p0),
            w_stable=math.log((1 - p1) / (1 - p0)),
            n=n,
            rate=rate,
        )


class StratifiedDesign(BaseModel):
    """Per-stratum baselines, the pooled fallback and the threshold."""

    model_config = ConfigDict(frozen=True)

    pooled: StratumBaseline
    strata: dict[str, StratumBaseline]
    """Only strata with at least ``min_stratum_n`` baseline audits."""
    h: float
    min_stratum_n: int

    def baseline(self, stratum: str) -> StratumBaseline:
        return self.strata.get(stratum, self.pooled)

    def update(self, state: CusumState, stratum: str, x: int | bool) -> CusumState:
        """State after one more audit of ``stratum`` with ``flip_shuffled = x``."""
        if x not in (0, 1):
            raise ValueError(f"flip must be 0 or 1, got {x!r}")
        base = self.baseline(stratum)
        statistic = max(0.0, state.statistic + (base.w_flip if x else base.w_stable))
        n = state.n + 1
        if state.alarm:
            return CusumState(statistic=statistic, n=n, alarm=True, alarm_at=state.alarm_at)
        alarm = statistic >= self.h
        return CusumState(statistic=statistic, n=n, alarm=alarm, alarm_at=n if alarm else None)


def design(
    counts: Mapping[str, tuple[int, int]],
    *,
    min_stratum_n: int = MIN_STRATUM_N,
    alpha: float = DEFAULT_ALPHA,
    horizon: int = DEFAULT_HORIZON,
    n_sims: int = 4000,
    seed: int = DEFAULT_SEED,
) -> StratifiedDesign:
    """The detector for baseline ``counts`` (stratum -> (audits, flips))."""
    total_n = sum(n for n, _ in counts.values())
    if total_n <= 0:
        raise ValueError("a stratified baseline needs at least one audit")
    pooled = StratumBaseline.for_counts(total_n, sum(k for _, k in counts.values()))
    strata = {
        name: StratumBaseline.for_counts(n, k)
        for name, (n, k) in sorted(counts.items())
        if n >= min_stratum_n
    }
    provisional = StratifiedDesign(pooled=pooled, strata=strata, h=1.0, min_stratum_n=min_stratum_n)
    mix = {name: n / total_n for name, (n, _) in counts.items() if n > 0}
    candidates = [default_threshold(pooled.p0)]
    candidates += [default_threshold(s.p0) for s in strata.values()]
    if len(strata) > 1:
        peaks = in_control_peaks(
            provisional, mix, horizon=horizon, n_sims=n_sims, seed=seed, p_true=None
        )
        candidates.append(threshold_for(peaks, alpha))
    return provisional.model_copy(update={"h": max(candidates)})


# --- simulation ---------------------------------------------------------------------------------


def _tables(
    detector: StratifiedDesign, mix: Mapping[str, float], p_true: Mapping[str, float] | None
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    names = sorted(name for name, share in mix.items() if share > 0)
    shares = np.array([mix[name] for name in names], dtype=float)
    shares /= shares.sum()
    rates = np.array(
        [(p_true or {}).get(name, detector.baseline(name).p0) for name in names], dtype=float
    )
    w1 = np.array([detector.baseline(name).w_flip for name in names])
    w0 = np.array([detector.baseline(name).w_stable for name in names])
    return names, np.cumsum(shares), rates, w1, w0


def _steps(
    rng: np.random.Generator,
    cumulative: np.ndarray,
    rates: np.ndarray,
    w1: np.ndarray,
    w0: np.ndarray,
    steps: int,
    paths: int,
) -> np.ndarray:
    """(time, path) increments: a stratum drawn from the mix, then a flip at its true rate."""
    which = np.searchsorted(cumulative, rng.random((steps, paths)), side="right")
    which = np.minimum(which, len(rates) - 1)
    flips = rng.random((steps, paths)) < rates[which]
    return np.where(flips, w1[which], w0[which])


def in_control_peaks(
    detector: StratifiedDesign,
    mix: Mapping[str, float],
    *,
    horizon: int,
    n_sims: int,
    seed: int,
    p_true: Mapping[str, float] | None = None,
) -> np.ndarray:
    """max over ``horizon`` audits of S per simulated stream with strata drawn from ``mix``
    and flips at ``p_true`` (default: each stratum's baseline)."""
    rng = np.random.default_rng(seed)
    _, cumulative, rates, w1, w0 = _tables(detector, mix, p_true)
    state = np.zeros(n_sims)
    peak = np.zeros(n_sims)
    for start in range(0, horizon, _BLOCK):
        for row in _steps(rng, cumulative, rates, w1, w0, min(_BLOCK, horizon - start), n_sims):
            state += row
            np.maximum(state, 0.0, out=state)
            np.maximum(peak, state, out=peak)
    return peak


def threshold_for(peaks: np.ndarray, alpha: float) -> float:
    """Smallest h on a 1e-4 grid with share(peaks >= h) <= alpha."""
    allowed = math.floor(alpha * peaks.size)
    ordered = np.sort(peaks)[::-1]
    if allowed >= ordered.size:
        return 1.0 / _H_STEPS
    return (math.floor(float(ordered[allowed]) * _H_STEPS) + 1) / _H_STEPS


def false_alarm_rate(
    detector: StratifiedDesign,
    mix: Mapping[str, float],
    *,
    horizon: int = DEFAULT_HORIZON,
    n_sims: int = 4000,
    seed: int = DEFAULT_SEED + 1,
    p_true: Mapping[str, float] | None = None,
) -> float:
    """Share of streams with strata from ``mix`` that alarm within ``horizon`` audits."""
    peaks = in_control_peaks(
        detector, mix, horizon=horizon, n_sims=n_sims, seed=seed, p_true=p_true
    )
    return float(np.mean(peaks >= detector.h))


def detection_delay(
    detector: StratifiedDesign,
    mix: Mapping[str, float],
    p_true: Mapping[str, float],
    *,
    n_sims: int = 2000,
    seed: int = DEFAULT_SEED + 2,
    max_len: int = 20_000,
) -> RunLengthSummary:
    """Audits from a change to ``p_true`` (statistic at 0, the slowest start) until the alarm."""
    rng = np.random.default_rng(seed)
    _, cumulative, rates, w1, w0 = _tables(detector, mix, p_true)
    lengths = np.full(n_sims, max_len + 1, dtype=np.int64)
    state = np.zeros(n_sims)
    active = np.ones(n_sims, dtype=bool)
    done = 0
    while done < max_len and active.any():
        steps = min(_BLOCK, max_len - done)
        for row in _steps(rng, cumulative, rates, w1, w0, steps, n_sims):
            done += 1
            state += row
            np.maximum(state, 0.0, out=state)
            crossed = active & (state >= detector.h)
            lengths[crossed] = done
            active &= ~crossed
    values = np.minimum(lengths, max_len).astype(float)
    return RunLengthSummary(
        mean=float(values.mean()),
        se=float(values.std(ddof=1) / math.sqrt(values.size)),
        p50=float(np.quantile(values, 0.5)),
        p90=float(np.quantile(values, 0.9)),
        n_sims=int(values.size),
        n_censored=int((lengths > max_len).sum()),
    )


def mix_rate(rates: Mapping[str, float], mix: Mapping[str, float]) -> float:
    """The pooled flip rate of a mix of strata."""
    total = sum(mix.values())
    return sum(rates[name] * share for name, share in mix.items()) / total
