"""How the image-sensitivity drift detector is designed: the alternative it watches for, its
increments, and the threshold ``h`` chosen on simulated streams (Monte Carlo run lengths).

Design (the one definition used here): h is the smallest threshold, on a 1e-4 grid, whose
simulated false-alarm probability within ``horizon`` in-control audits is at most ``alpha``
(service defaults: ``p1 = p0 - 0.15`` (not below ``p0 / 2``), alpha = 5%, horizon = 1000 audits).
The in-control average run length (ARL0) is measured and reported, not designed for.

Reference case p0 = 0.45, p1 = 0.30 (seeded simulations; ``docs/drift.md`` has the method):

- h = 6.5248 (20 000 streams, seed 20240601; ``default_threshold(0.45)`` returns it)
- false alarms within 1000 in-control audits: 4.96% on the design streams, 4.95%
  (95% CI 4.81-5.08%) on 100 000 fresh streams
- ARL0 = 17 977 audits (10 000 streams, SE 181; median 12 278, p90 41 545)
- delay after a true drop 0.45 -> 0.30, from a zero statistic (the slowest start): mean 123
  audits, median 110, p90 200; after 1000 in-control audits: mean 113, median 100, p90 191.
  No alarm can come before 28 audits (ceil(h / w(0)), a run of no flips).
"""

from __future__ import annotations

import bisect
import math
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from audits.science.intervals import wilson_interval

DEFAULT_DROP = 0.15
DEFAULT_ALPHA = 0.05
DEFAULT_HORIZON = 1000
DEFAULT_N_SIMS = 20_000
DEFAULT_SEED = 20240601

_H_STEPS = 10_000
_BLOCK_ELEMENTS = 1 << 18
_MAX_BLOCK_STEPS = 4096


def design_p1(p0: float, drop: float = DEFAULT_DROP) -> float:
    """Alternative flip rate the detector is tuned for: ``p0 - drop``, but not below ``p0 / 2``."""
    check_rate("p0", p0)
    if drop <= 0:
        raise ValueError(f"drop must be positive, got {drop}")
    return round(max(p0 - drop, p0 / 2), 6)


def check_rate(name: str, p: float) -> None:
    if not 0.0 < p < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {p}")


def increments(p0: float, p1: float) -> tuple[float, float]:
    """(w on a flip, w on no flip) for the lower CUSUM of p1 against p0."""
    check_rate("p0", p0)
    check_rate("p1", p1)
    if p1 >= p0:
        raise ValueError(f"p1 must be below p0 for a drop detector, got p0={p0}, p1={p1}")
    return math.log(p1 / p0), math.log((1.0 - p1) / (1.0 - p0))


class RunLengthSummary(BaseModel):
    """Distribution of audits until the alarm over simulated streams.

    Streams still silent after ``max_len`` audits count as ``max_len`` (``n_censored`` of them),
    so with censoring ``mean`` is a lower bound.
    """

    model_config = ConfigDict(frozen=True)

    mean: float
    se: float
    p50: float
    p90: float
    n_sims: int
    n_censored: int
    n_discarded: int = 0
    """Streams dropped because they false-alarmed during the in-control warm-up."""


class ThresholdChoice(BaseModel):
    """A threshold designed for a false-alarm probability within a horizon of audits."""

    model_config = ConfigDict(frozen=True)

    design: Literal["false_alarm_within_horizon"] = "false_alarm_within_horizon"
    p0: float
    p1: float
    h: float
    alpha: float
    horizon: int
    false_alarm_rate: float
    """Measured on the same simulated streams the bisection used."""
    false_alarm_ci: tuple[float, float]
    n_sims: int
    seed: int


def _block_len(n_paths: int) -> int:
    return max(1, min(_MAX_BLOCK_STEPS, _BLOCK_ELEMENTS // max(1, n_paths)))


def _increments_block(
    rng: np.random.Generator, p_true: float, w: tuple[float, float], steps: int, n_paths: int
) -> np.ndarray:
    """(time, path) CUSUM increments of ``steps`` audits at flip rate ``p_true``."""
    flips = rng.random((steps, n_paths), dtype=np.float32) < p_true
    return np.where(flips, w[0], w[1])


def _max_statistic(
    w: tuple[float, float], p_true: float, s0: np.ndarray, steps: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(max over the ``steps`` audits of S, S after them) per stream started at ``s0``.

    The recursion is the one ``BernoulliCusum.update`` runs, in the same floating-point order.
    The draws do not depend on any threshold (common random numbers across h).
    """
    state = s0.astype(float, copy=True)
    peak = state.copy()
    block = _block_len(state.size)
    for start in range(0, steps, block):
        for row in _increments_block(rng, p_true, w, min(block, steps - start), state.size):
            state += row
            np.maximum(state, 0.0, out=state)
            np.maximum(peak, state, out=peak)
    return peak, state


def _run_lengths(
    w: tuple[float, float],
    h: float,
    p_true: float,
    s0: np.ndarray,
    max_len: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Audits until ``S >= h`` per stream started at ``s0`` (``max_len + 1``: never)."""
    lengths = np.full(s0.size, max_len + 1, dtype=np.int64)
    active = np.arange(s0.size)
    state = s0.astype(float, copy=True)
    done = 0
    while active.size and done < max_len:
        silent = np.ones(active.size, dtype=bool)
        steps = min(_block_len(active.size), max_len - done)
        for row in _increments_block(rng, p_true, w, steps, active.size):
            done += 1
            state += row
            np.maximum(state, 0.0, out=state)
            crossed = silent & (state >= h)
            if crossed.any():
                lengths[active[crossed]] = done
                silent &= ~crossed
                if not silent.any():
                    break
        active, state = active[silent], state[silent]
    return lengths


def _summarize(lengths: np.ndarray, max_len: int, n_discarded: int = 0) -> RunLengthSummary:
    censored = lengths > max_len
    values = np.minimum(lengths, max_len).astype(float)
    n = values.size
    return RunLengthSummary(
        mean=float(values.mean()),
        se=float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan"),
        p50=float(np.quantile(values, 0.5)),
        p90=float(np.quantile(values, 0.9)),
        n_sims=n,
        n_censored=int(censored.sum()),
        n_discarded=n_discarded,
    )


def _in_control_peaks(p0: float, p1: float, *, horizon: int, n_sims: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    peaks, _ = _max_statistic(increments(p0, p1), p0, np.zeros(n_sims), horizon, rng)
    return peaks


def simulate_false_alarm_rate(
    p0: float,
    p1: float,
    h: float,
    *,
    horizon: int = DEFAULT_HORIZON,
    n_sims: int = DEFAULT_N_SIMS,
    seed: int = DEFAULT_SEED,
) -> float:
    """Share of in-control streams (rate ``p0``) that alarm within ``horizon`` audits.

    For a fixed seed the streams are the same for every h, so the result is non-increasing in h.
    """
    peaks = _in_control_peaks(p0, p1, horizon=horizon, n_sims=n_sims, seed=seed)
    return float(np.mean(peaks >= h))


def simulate_arl(
    p0: float,
    p1: float,
    h: float,
    *,
    n_sims: int = 2000,
    seed: int = DEFAULT_SEED,
    max_len: int = 1_000_000,
) -> RunLengthSummary:
    """In-control run length (ARL0 = its mean): audits until a false alarm at rate ``p0``."""
    rng = np.random.default_rng(seed)
    lengths = _run_lengths(increments(p0, p1), h, p0, np.zeros(n_sims), max_len, rng)
    return _summarize(lengths, max_len)


def simulate_detection_delay(
    p0: float,
    p1_actual: float,
    h: float,
    *,
    p1_design: float | None = None,
    warmup: int = 0,
    n_sims: int = 2000,
    seed: int = DEFAULT_SEED,
    max_len: int = 100_000,
) -> RunLengthSummary:
    """Audits after a change of the flip rate to ``p1_actual`` until the alarm (1 = the first).

    The detector is designed for ``p1_design`` (default ``design_p1(p0)``). With ``warmup = 0``
    the statistic starts at 0, the slowest possible start (the CUSUM is monotone in its start),
    so the delay is conservative; with ``warmup > 0`` streams first see that many in-control
    audits, and those that false-alarm then are discarded.
    """
    check_rate("p1_actual", p1_actual)
    w = increments(p0, design_p1(p0) if p1_design is None else p1_design)
    rng = np.random.default_rng(seed)
    s0 = np.zeros(n_sims)
    n_discarded = 0
    if warmup > 0:
        peaks, s0 = _max_statistic(w, p0, s0, warmup, rng)
        silent = peaks < h
        n_discarded = int(n_sims - silent.sum())
        s0 = s0[silent]
    lengths = _run_lengths(w, h, p1_actual, s0, max_len, rng)
    return _summarize(lengths, max_len, n_discarded)


def choose_threshold(
    p0: float,
    p1: float,
    *,
    alpha: float = DEFAULT_ALPHA,
    horizon: int = DEFAULT_HORIZON,
    n_sims: int = DEFAULT_N_SIMS,
    seed: int = DEFAULT_SEED,
) -> ThresholdChoice:
    """Smallest h (on a 1e-4 grid) with simulated P(alarm within ``horizon``) <= ``alpha``.

    Bisection on the grid over one fixed set of in-control streams, on which the false-alarm
    rate is non-increasing in h, so the result is the smallest such grid value.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    if horizon < 1 or n_sims < 1:
        raise ValueError("horizon and n_sims must be positive")
    peaks = _in_control_peaks(p0, p1, horizon=horizon, n_sims=n_sims, seed=seed)

    def rate(step: int) -> float:
        return float(np.mean(peaks >= step / _H_STEPS))

    lo, hi = 0, math.ceil(float(peaks.max()) * _H_STEPS) + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if rate(mid) <= alpha:
            hi = mid
        else:
            lo = mid
    h = hi / _H_STEPS
    alarms = int(np.sum(peaks >= h))
    return ThresholdChoice(
        p0=p0,
        p1=p1,
        h=h,
        alpha=alpha,
        horizon=horizon,
        false_alarm_rate=alarms / n_sims,
        false_alarm_ci=wilson_interval(alarms, n_sims),
        n_sims=n_sims,
        seed=seed,
    )


# Output of ``compute_default_table()``: h for p0 on the grid 0.025, 0.05, ..., 0.975 with
# p1 = design_p1(p0), alpha = 5%, horizon = 1000, 20 000 streams, seed 20240601.
_DEFAULT_TABLE_P0: tuple[float, ...] = tuple(round(0.025 * i, 3) for i in range(1, 40))
# fmt: off
_DEFAULT_TABLE_H: tuple[float, ...] = (
    3.8263, 4.6824, 5.1977, 5.5149, 5.7826, 6.0036, 6.1991, 6.3510,
    6.4600, 6.6317, 6.6279, 6.8265, 6.7377, 6.7002, 6.6428, 6.5714,
    6.5133, 6.5248, 6.4939, 6.5045, 6.4341, 6.4135, 6.3479, 6.4707,
    6.4571, 6.4287, 6.4614, 6.4847, 6.5071, 6.5230, 6.5597, 6.6699,
    6.6806, 6.7083, 6.7721, 6.8021, 6.8509, 6.8631, 6.9393,
)
# fmt: on


def compute_default_table(
    n_sims: int = DEFAULT_N_SIMS, seed: int = DEFAULT_SEED
) -> tuple[float, ...]:
    """Regenerate ``_DEFAULT_TABLE_H`` (takes a few seconds)."""
    return tuple(
        choose_threshold(p0, design_p1(p0), n_sims=n_sims, seed=seed).h for p0 in _DEFAULT_TABLE_P0
    )


@lru_cache(maxsize=64)
def designed_h(p0: float, p1: float) -> float:
    return choose_threshold(p0, p1, n_sims=DEFAULT_N_SIMS, seed=DEFAULT_SEED).h


def default_threshold(p0: float) -> float:
    """Threshold of the service design (p1 = ``design_p1(p0)``, 5% false alarms in 1000 audits).

    Inside [0.025, 0.975] the larger of the two neighbouring table values (a linear interpolation
    overshoots 5% where h(p0) is curved); outside, one cached simulation (~0.2 s).
    """
    check_rate("p0", p0)
    grid = _DEFAULT_TABLE_P0
    if not grid[0] <= p0 <= grid[-1]:
        return designed_h(round(p0, 4), round(design_p1(p0), 4))
    i = bisect.bisect_left(grid, p0)
    if math.isclose(grid[i], p0, abs_tol=1e-9):
        return _DEFAULT_TABLE_H[i]
    return max(_DEFAULT_TABLE_H[i - 1], _DEFAULT_TABLE_H[i])
