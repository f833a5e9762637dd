"""The Bernoulli CUSUM: pure updates, its state in Redis, its status, and the detector the
service runs on simulated streams."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from audits.science.drift.cusum import (
    MIN_AUDITS_FOR_DRIFT,
    BernoulliCusum,
    CusumState,
    drift_status,
)
from tests.unit.science.drift.reference import P0, P1, REF_DELAY_MEAN, REF_DELAY_P90, REF_H


@pytest.fixture(scope="module")
def detector() -> BernoulliCusum:
    return BernoulliCusum.for_baseline(P0)


def _delays_with_pure_updates(
    detector: BernoulliCusum, p_true: float, n_streams: int, seed: int, cap: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    delays = np.full(n_streams, cap + 1)
    for i in range(n_streams):
        state = detector.reset()
        for x in rng.random(cap) < p_true:
            state = detector.update(state, int(x))
            if state.alarm:
                delays[i] = state.alarm_at
                break
    return delays


def test_reference_detector_uses_documented_design(detector: BernoulliCusum) -> None:
    assert detector.p1 == pytest.approx(P1)
    assert detector.h == REF_H
    assert detector.w_flip == pytest.approx(math.log(0.30 / 0.45))
    assert detector.w_stable == pytest.approx(math.log(0.70 / 0.55))


def test_statistic_grows_without_flips_and_shrinks_with_flips(detector: BernoulliCusum) -> None:
    state = detector.update_many(detector.reset(), [0, 0, 0])
    assert state.statistic == pytest.approx(3 * detector.w_stable)
    after_flip = detector.update(state, 1)
    assert after_flip.statistic == pytest.approx(3 * detector.w_stable + detector.w_flip)
    assert after_flip.n == 4


def test_update_is_pure(detector: BernoulliCusum) -> None:
    state = CusumState(statistic=1.25, n=7)
    first = detector.update(state, 0)
    second = detector.update(state, 0)
    assert state == CusumState(statistic=1.25, n=7)
    assert first == second
    assert first is not state
    with pytest.raises(ValidationError):
        state.statistic = 3.0  # type: ignore[misc]


def test_update_many_equals_folded_updates(detector: BernoulliCusum) -> None:
    xs = [int(x) for x in np.random.default_rng(3).random(300) < 0.35]
    folded = detector.reset()
    for x in xs:
        folded = detector.update(folded, x)
    assert detector.update_many(detector.reset(), xs) == folded


def test_alarm_fires_at_first_crossing_and_latches(detector: BernoulliCusum) -> None:
    first_possible = math.ceil(detector.h / detector.w_stable)
    state = detector.update_many(detector.reset(), [0] * (first_possible - 1))
    assert not state.alarm
    state = detector.update(state, 0)
    assert state.alarm
    assert state.alarm_at == first_possible == 28

    state = detector.update_many(state, [1] * 200)
    assert state.statistic == 0.0
    assert state.alarm
    assert state.alarm_at == first_possible
    assert state.n == first_possible + 200
    assert detector.reset() == CusumState()


def test_statistic_never_negative(detector: BernoulliCusum) -> None:
    state = detector.reset()
    seen = []
    for x in np.random.default_rng(11).random(2000) < 0.7:
        state = detector.update(state, int(x))
        seen.append(state.statistic)
    assert min(seen) == 0.0
    assert seen.count(0.0) > 100
    with pytest.raises(ValidationError):
        CusumState(statistic=-0.1)


@pytest.mark.parametrize("bad", [2, -1, 0.5, "1"])
def test_update_rejects_non_binary_flip(detector: BernoulliCusum, bad: object) -> None:
    with pytest.raises(ValueError):
        detector.update(detector.reset(), bad)  # type: ignore[arg-type]


def test_detector_rejects_invalid_design() -> None:
    with pytest.raises(ValueError):
        BernoulliCusum(p0=0.3, p1=0.45, h=5.0)
    with pytest.raises(ValueError):
        BernoulliCusum(p0=0.45, p1=0.0, h=5.0)
    with pytest.raises(ValueError):
        BernoulliCusum(p0=0.45, p1=0.30, h=0.0)


def test_state_round_trips_through_redis_hash() -> None:
    for state in (
        CusumState(),
        CusumState(statistic=0.1 + 0.2, n=41, alarm=False),
        CusumState(statistic=7.0000000001, n=300, alarm=True, alarm_at=290),
    ):
        as_bytes = {k.encode(): v.encode() for k, v in state.to_hash().items()}
        assert CusumState.from_hash(state.to_hash()) == state
        assert CusumState.from_hash(as_bytes) == state
    assert CusumState.from_hash({}) == CusumState()


def test_drift_status() -> None:
    assert drift_status(CusumState(n=MIN_AUDITS_FOR_DRIFT - 1)) == "insufficient_data"
    assert drift_status(CusumState(n=MIN_AUDITS_FOR_DRIFT)) == "ok"
    assert drift_status(CusumState(statistic=7.0, n=30, alarm=True, alarm_at=30)) == "alarm"
    assert drift_status(CusumState(n=20), n_min=10) == "ok"


def test_pure_detector_alarms_within_documented_p90(detector: BernoulliCusum) -> None:
    # The very detector the service runs, on fresh streams after a drop 0.45 -> 0.30.
    # P(delay <= 200) is 0.90 by the simulation; with 600 streams the share has sd 0.012, so
    # 0.86 is 3.3 sd below. The mean (sd of one delay ~60, SE 2.5) must agree within 4 SE.
    delays = _delays_with_pure_updates(detector, 0.30, n_streams=600, seed=90210, cap=3000)
    assert np.mean(delays <= REF_DELAY_P90) >= 0.86
    assert np.mean(delays) == pytest.approx(REF_DELAY_MEAN, abs=10)
    assert delays.min() >= 28


def test_no_drop_rarely_alarms_in_short_run(detector: BernoulliCusum) -> None:
    # 200 in-control streams of 150 audits: P(alarm) per stream is well under 1%.
    delays = _delays_with_pure_updates(detector, P0, n_streams=200, seed=5, cap=150)
    assert np.mean(delays <= 150) <= 0.03
