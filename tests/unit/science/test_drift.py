"""Bernoulli CUSUM drift detector: pure updates, threshold design, simulated behaviour."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from pydantic import ValidationError

from audits.science import drift
from audits.science.drift import (
    MIN_AUDITS_FOR_DRIFT,
    BernoulliCusum,
    CusumState,
    choose_threshold,
    default_threshold,
    design_p1,
    drift_status,
    simulate_arl,
    simulate_detection_delay,
    simulate_false_alarm_rate,
    summarize_window,
)
from audits.science.stats import wilson_interval

P0, P1 = 0.45, 0.30
# Documented in audits/science/drift.py and docs/drift.md for the reference case.
REF_H = 6.5248
REF_DELAY_MEAN = 123.1
REF_DELAY_P90 = 200


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


def test_design_p1_drops_15_points_but_not_below_half() -> None:
    assert design_p1(0.45) == 0.30
    assert design_p1(0.90) == 0.75
    assert design_p1(0.20) == 0.10
    with pytest.raises(ValueError):
        design_p1(1.0)


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


def test_summarize_window_bounds_and_interval() -> None:
    now = 1000.0
    events = [(899.9, 1), (900.0, 1), (900.1, 0), (950.0, 1), (1000.0, 1), (1000.5, 1)]
    summary = summarize_window(events, now=now, window_s=100.0)
    # (now - window, now]: 900.0 and the future event are out.
    assert (summary.n, summary.k) == (3, 2)
    assert summary.rate == pytest.approx(2 / 3)
    assert (summary.lo, summary.hi) == wilson_interval(2, 3)
    assert summary.lo < summary.rate < summary.hi

    empty = summarize_window([], now=now, window_s=60.0)
    assert (empty.n, empty.rate, empty.lo, empty.hi) == (0, None, 0.0, 1.0)
    with pytest.raises(ValueError):
        summarize_window([(999.0, 2)], now=now, window_s=60.0)


def test_tiny_threshold_matches_closed_form() -> None:
    # With h <= w(0) the first audit without a flip alarms: the run length is geometric with
    # success probability 1 - p0, and P(alarm within N) = 1 - p0**N.
    h = 0.2
    far = simulate_false_alarm_rate(P0, P1, h, horizon=5, n_sims=20_000, seed=1)
    assert far == pytest.approx(1 - P0**5, abs=0.005)  # sd 0.001
    arl = simulate_arl(P0, P1, h, n_sims=20_000, seed=2)
    assert arl.mean == pytest.approx(1 / (1 - P0), abs=0.04)  # sd 0.009
    delay = simulate_detection_delay(P0, 0.1, h, n_sims=20_000, seed=3)
    assert delay.mean == pytest.approx(1 / 0.9, abs=0.02)  # sd 0.002


def test_false_alarm_rate_on_fresh_streams_matches_design() -> None:
    # Design: P(alarm within 1000 in-control audits) <= 5%, measured 4.96% on the design
    # streams. On 10 000 fresh streams the count is Binomial(10 000, ~0.05): sd 0.22 points,
    # plus ~0.15 points of Monte Carlo error in h itself; +-1 point is about 3.7 sd.
    far = simulate_false_alarm_rate(P0, P1, default_threshold(P0), n_sims=10_000, seed=777)
    assert 0.04 <= far <= 0.06


def test_detection_delay_of_documented_drop() -> None:
    delay = simulate_detection_delay(P0, 0.30, REF_H, n_sims=5000, seed=4242)
    # Mean: sd of one delay ~60 audits, so SE ~0.85 with 5000 streams; p90: seeds vary +-3.
    assert delay.mean == pytest.approx(REF_DELAY_MEAN, abs=4)
    assert abs(delay.p90 - REF_DELAY_P90) <= 12
    assert delay.n_censored == 0

    warm = simulate_detection_delay(P0, 0.30, REF_H, warmup=1000, n_sims=3000, seed=4243)
    assert warm.mean < delay.mean
    assert 0 < warm.n_discarded < 0.1 * 3000


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


def test_threshold_bisection_is_monotone() -> None:
    kwargs = {"n_sims": 2000, "seed": 5}
    hs = [choose_threshold(P0, P1, alpha=a, **kwargs).h for a in (0.2, 0.1, 0.05, 0.02)]
    assert hs == sorted(hs) and len(set(hs)) == len(hs)
    short = choose_threshold(P0, P1, horizon=250, **kwargs).h
    assert short < choose_threshold(P0, P1, horizon=1000, **kwargs).h

    grid = np.linspace(2.0, 9.0, 8)
    rates = [simulate_false_alarm_rate(P0, P1, h, **kwargs) for h in grid]
    assert all(a >= b for a, b in itertools.pairwise(rates))
    assert rates[0] > 0.5 > 0.01 > rates[-1]


def test_chosen_threshold_is_smallest_on_grid() -> None:
    choice = choose_threshold(P0, P1, alpha=0.05, n_sims=3000, seed=8)
    same = {"n_sims": 3000, "seed": 8}
    assert choice.false_alarm_rate == simulate_false_alarm_rate(P0, P1, choice.h, **same)
    assert choice.false_alarm_rate <= 0.05
    assert simulate_false_alarm_rate(P0, P1, choice.h - 1e-4, **same) > 0.05
    assert choice.false_alarm_ci[0] <= choice.false_alarm_rate <= choice.false_alarm_ci[1]


def test_arl_grows_with_threshold_and_censors() -> None:
    arls = [simulate_arl(P0, P1, h, n_sims=1000, seed=6).mean for h in (1.0, 2.0, 3.0)]
    assert arls == sorted(arls)
    capped = simulate_arl(P0, P1, REF_H, n_sims=200, seed=6, max_len=50)
    assert capped.n_censored == 200
    assert capped.mean == 50


def test_default_threshold_matches_table_and_simulation() -> None:
    assert default_threshold(P0) == choose_threshold(P0, P1).h == REF_H
    grid, table = drift._DEFAULT_TABLE_P0, drift._DEFAULT_TABLE_H
    assert choose_threshold(grid[27], design_p1(grid[27])).h == table[27]
    between = default_threshold(0.3375)
    assert between == max(default_threshold(0.325), default_threshold(0.35))


def test_default_threshold_off_table_is_fast_and_within_design() -> None:
    drift._designed_h.cache_clear()
    start = time.perf_counter()
    h = default_threshold(0.01)
    assert time.perf_counter() - start < 1.0
    far = simulate_false_alarm_rate(0.01, design_p1(0.01), h, n_sims=10_000, seed=99)
    assert far <= 0.06


@pytest.mark.parametrize("p0", [0.0375, 0.6125])
def test_default_threshold_between_grid_points_keeps_design(p0: float) -> None:
    far = simulate_false_alarm_rate(p0, design_p1(p0), default_threshold(p0), n_sims=10_000, seed=3)
    assert far <= 0.06
