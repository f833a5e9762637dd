"""When a benchmark figure counts: the preconditions of each target, bootstrap intervals, and
the closed loop's calibration step (DESIGN.md section 5).

A figure whose preconditions failed is reported as ``invalid`` with the reason, never ``met``:
a p99 of 23 requests is close to their maximum, and a "below saturation" arm that kept the model
9% busy does not test what mirroring costs at 50%.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIN_REQUESTS_P99 = 200
"""Requests an arm needs before its p99 means something (the 2nd largest of 200)."""
MIN_REQUESTS_P50 = 20
UTILIZATION_TOLERANCE = 0.1
"""The unmirrored below-saturation arm must run within target +- this."""
SATURATED_UTILIZATION = 0.9
"""An arm 'at saturation' must keep the model at least this busy."""
MIN_COST_ROUNDS = 10
"""Interleaved rounds behind an audit-cost median."""
MAX_OTHER_CPU_CORES = 0.25
"""Other processes may use at most this many cores on average while the bench runs."""
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


def bootstrap_percentile_interval(
    values: Sequence[float], q: float, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of the q-th percentile; None without values.

    The requests of a closed loop are not independent (a slow spell slows several in a row), so
    this interval is if anything too narrow; it shows how much a p99 of n requests can move.
    """
    if len(values) < 2:
        return None
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    draws = rng.choice(data, size=(resamples, len(data)), replace=True)
    stats = np.percentile(draws, q, axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    return float(np.percentile(stats, tail)), float(np.percentile(stats, 100 - tail))


def bootstrap_ratio_interval(
    numerator: Sequence[float],
    denominator: Sequence[float],
    q: float,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float] | None:
    """95% bootstrap interval of percentile_q(numerator) / percentile_q(denominator), the two
    samples resampled independently."""
    if len(numerator) < 2 or len(denominator) < 2:
        return None
    rng = np.random.default_rng(seed)
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    top = np.percentile(rng.choice(num, size=(resamples, len(num))), q, axis=1)
    bottom = np.percentile(rng.choice(den, size=(resamples, len(den))), q, axis=1)
    ratios = top / np.where(bottom > 0, bottom, np.nan)
    ratios = ratios[np.isfinite(ratios)]
    if not len(ratios):
        return None
    tail = (1 - CONFIDENCE) / 2 * 100
    return float(np.percentile(ratios, tail)), float(np.percentile(ratios, 100 - tail))


def next_think_time_s(
    think_s: float, mean_latency_s: float, utilization: float, target: float
) -> float:
    """The closed loop's next think time: each client's cycle (latency + think) scales with
    utilization / target, so the request rate (and the busy share) moves to the target."""
    if utilization <= 0:
        return think_s / 2
    cycle = (mean_latency_s + think_s) * utilization / target
    return max(0.0, cycle - mean_latency_s)


def utilization_problem(
    utilization: float | None, target: float, tolerance: float = UTILIZATION_TOLERANCE
) -> str | None:
    """Why an arm's busy share is not the target one, or None when it is."""
    if utilization is None:
        return "model utilisation was not measured"
    if abs(utilization - target) > tolerance:
        return (
            f"the unmirrored arm kept the model {utilization:.0%} busy, outside the target "
            f"{target:.0%} +- {tolerance:.0%}"
        )
    return None


def requests_problem(
    label: str, requests: int, minimum: int = MIN_REQUESTS_P99, purpose: str = "a p99"
) -> str | None:
    if requests < minimum:
        return f"the {label} arm has {requests} requests (< {minimum} for {purpose})"
    return None


def load_problem(load_average: float, cores: int, max_load: float) -> str | None:
    """Other processes on the machine when the run started (the bench itself is not running
    yet, so the 1-minute load average is theirs)."""
    if load_average > max_load:
        return (
            f"the machine was shared: 1-minute load average {load_average:.1f} on {cores} "
            f"cores when the run started (> {max_load:.1f}), so timings are polluted"
        )
    return None


def status(value: float, goal: str, problems: Sequence[str | None]) -> tuple[str, list[str]]:
    """'invalid' when any precondition failed, else 'met' or 'missed' by the point value."""
    reasons = [problem for problem in problems if problem]
    if reasons:
        return "invalid", reasons
    op, limit = goal.split()
    met = value <= float(limit) if op == "<=" else value >= float(limit)
    return ("met" if met else "missed"), []


@dataclass(frozen=True)
class CpuSnapshot:
    """Busy CPU seconds of the whole machine and of this process, at one moment."""

    wall_s: float
    machine_busy_s: float | None
    own_s: float


def cpu_snapshot(stat: Path = Path("/proc/stat")) -> CpuSnapshot:
    busy = None
    if stat.is_file():
        fields = stat.read_text().splitlines()[0].split()[1:]
        ticks = [int(value) for value in fields]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        busy = (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    times = os.times()
    return CpuSnapshot(time.monotonic(), busy, times.user + times.system)


def other_cpu_cores(start: CpuSnapshot, end: CpuSnapshot) -> float | None:
    """Cores the machine's other processes kept busy on average between two snapshots (the
    machine's busy CPU time minus this process's); None where /proc/stat is not readable."""
    if start.machine_busy_s is None or end.machine_busy_s is None:
        return None
    wall = end.wall_s - start.wall_s
    if wall <= 0:
        return None
    others = (end.machine_busy_s - start.machine_busy_s) - (end.own_s - start.own_s)
    return max(0.0, others / wall)


def other_cpu_problem(cores: float | None, limit: float = MAX_OTHER_CPU_CORES) -> str | None:
    if cores is not None and cores > limit:
        return (
            f"other processes kept {cores:.2f} cores busy on average during the run "
            f"(> {limit:.2f}), so timings are polluted"
        )
    return None
