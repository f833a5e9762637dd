"""The frozen baseline: the detector it designs, clamping, strata and its Redis hash codec."""

from __future__ import annotations

import pytest

from audits.science.drift.cusum import BernoulliCusum
from service.telemetry.drift.baseline import P0_MAX, P0_MIN, Baseline


def test_baseline_builds_the_service_detector_and_round_trips() -> None:
    baseline = Baseline.for_rate(0.45, source="manual", now=5.0)
    expected = BernoulliCusum.for_baseline(0.45)
    assert baseline.detector() == expected
    assert (baseline.w_flip, baseline.w_stable) == (expected.w_flip, expected.w_stable)
    assert baseline.h == pytest.approx(6.5248)
    assert Baseline.from_hash(baseline.to_hash()) == baseline
    assert Baseline.from_hash({}) is None


@pytest.mark.parametrize(("rate", "p0"), [(0.0, P0_MIN), (1.0, P0_MAX), (0.3, 0.3)])
def test_baseline_is_clamped_into_a_valid_detector(rate: float, p0: float) -> None:
    baseline = Baseline.for_rate(rate, source="auto", n=100)
    assert baseline.p0 == p0 and baseline.rate == rate
    assert 0 < baseline.p1 < baseline.p0


def test_a_stratified_baseline_round_trips_and_falls_back_to_the_pooled_rate() -> None:
    counts = {"closed|CT": (60, 42), "open|MR": (60, 6), "mc|XA": (5, 1)}
    baseline = Baseline.for_counts(counts, source="auto", now=5.0)
    assert set(baseline.strata) == {"closed|CT", "open|MR"}
    assert baseline.rate == pytest.approx(49 / 125) and baseline.n == 125
    assert Baseline.from_hash(baseline.to_hash()) == baseline
    detector = baseline.stratified()
    assert detector.baseline("mc|XA").p0 == baseline.p0
    assert detector.baseline("closed|CT").p0 == pytest.approx(0.7)
    pooled_only = Baseline.for_rate(0.45, source="manual", now=5.0)
    assert pooled_only.strata == {} and Baseline.from_hash(pooled_only.to_hash()) == pooled_only
