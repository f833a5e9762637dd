"""The case-mix-aware (risk-adjusted) CUSUM: a mix change alone stays within the design, a real
drop in one stratum is caught, and the pooled CUSUM false-alarms on the same mix change."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audits.science.drift import design as pooled_design
from audits.science.drift.cusum import BernoulliCusum, CusumState
from audits.science.drift.design import default_threshold
from audits.science.drift.stratified import (
    MIN_STRATUM_N,
    design,
    detection_delay,
    false_alarm_rate,
    mix_rate,
    stratum_of,
)
from audits.science.intervals import wilson_interval

RATES = {"closed|CT": 0.60, "open|MR": 0.15, "mc|CR": 0.40}
BASELINE_MIX = {"closed|CT": 0.5, "open|MR": 0.3, "mc|CR": 0.2}
SHIFTED_MIX = {"closed|CT": 0.1, "open|MR": 0.8, "mc|CR": 0.1}
"""Traffic moves to open MR questions, whose answers rarely depend on the image: the pooled IS
falls from 0.445 to 0.22 with no change in the model."""
N_SIMS = 4000


def _counts(n: int = 4000) -> dict[str, tuple[int, int]]:
    return {s: (round(n * m), round(n * m * RATES[s])) for s, m in BASELINE_MIX.items()}


def test_one_stratum_is_exactly_the_pooled_cusum() -> None:
    detector = design({"closed|CT": (500, 225)})
    pooled = BernoulliCusum.for_baseline(0.45)
    assert detector.h == pooled.h == default_threshold(0.45)
    rng = np.random.default_rng(3)
    flips = (rng.random(400) < 0.35).astype(int).tolist()
    a, b = CusumState(), CusumState()
    for flip in flips:
        a = detector.update(a, "closed|CT", flip)
        b = pooled.update(b, flip)
    assert a == b


def test_thin_strata_use_the_pooled_rate() -> None:
    counts = {"closed|CT": (200, 120), "open|XA": (MIN_STRATUM_N - 1, 0)}
    detector = design(counts)
    assert set(detector.strata) == {"closed|CT"}
    assert detector.baseline("open|XA") == detector.pooled
    assert detector.baseline("never|seen") == detector.pooled
    assert detector.pooled.rate == pytest.approx(120 / (200 + MIN_STRATUM_N - 1))
    assert stratum_of(None, None) == "unknown|unknown"


def test_mix_change_alone_stays_within_design_and_the_pooled_cusum_false_alarms() -> None:
    detector = design(_counts())
    assert detector.h >= max(default_threshold(s.p0) for s in detector.strata.values())
    rows = []
    for name, mix in (("baseline mix", BASELINE_MIX), ("shifted mix", SHIFTED_MIX)):
        rate = false_alarm_rate(detector, mix, n_sims=N_SIMS)
        lo, _ = wilson_interval(round(rate * N_SIMS), N_SIMS)
        rows.append((name, rate))
        assert lo <= 0.05, f"{name}: {rate:.3f} false alarms within 1000 audits"
    # the pooled CUSUM designed on the same baseline sees the shifted mix as a drop
    p0 = detector.pooled.p0
    pooled = BernoulliCusum.for_baseline(p0)
    peaks, _ = pooled_design._max_statistic(
        (pooled.w_flip, pooled.w_stable),
        mix_rate(RATES, SHIFTED_MIX),
        np.zeros(N_SIMS),
        1000,
        np.random.default_rng(7),
    )
    pooled_rate = float(np.mean(peaks >= pooled.h))
    print(
        f"\nfalse alarms within 1000 audits: stratified {rows[0][1]:.3f} (baseline mix), "
        f"{rows[1][1]:.3f} (shifted mix); pooled on the shifted mix {pooled_rate:.3f}"
    )
    assert pooled_rate > 0.5


def test_a_real_drop_in_one_stratum_is_detected_and_its_delay_reported() -> None:
    detector = design(_counts())
    delay = detection_delay(detector, BASELINE_MIX, {"closed|CT": 0.30}, n_sims=1000)
    print(
        f"\ndelay after closed|CT IS 0.60 -> 0.30 (half of the traffic): mean {delay.mean:.0f} "
        f"audits, median {delay.p50:.0f}, p90 {delay.p90:.0f}"
    )
    assert delay.n_censored == 0
    assert delay.p90 < 400
    # the same drop under the shifted mix (closed CT now 10% of traffic) takes longer
    slower = detection_delay(detector, SHIFTED_MIX, {"closed|CT": 0.30}, n_sims=500)
    assert slower.mean > delay.mean and math.isfinite(slower.mean)
