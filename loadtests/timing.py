"""Small timing helpers: interleaved repeated measurements and percentiles in milliseconds."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np


def elapsed_ms(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def percentile(values_ms: list[float], q: float) -> float:
    if not values_ms:
        return float("nan")
    return float(np.percentile(np.asarray(values_ms), q))


def interleaved_medians(
    cases: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 2
) -> dict[str, float]:
    """Median milliseconds of each case; every round runs every case, in a rotated order.

    Interleaving spreads slow spells of a shared machine over all cases alike, which keeps the
    ratios between cases steadier than timing each case in its own block.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(elapsed_ms(cases[name]))
    return {name: percentile(values, 50) for name, values in samples.items()}


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")
