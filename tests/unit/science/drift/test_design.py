"""The detector's design: the alternative, thresholds chosen on simulated streams, run lengths
and the default table."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from audits.science.drift import design
from audits.science.drift.design import (
    choose_threshold,
    default_threshold,
    design_p1,
    simulate_arl,
    simulate_detection_delay,
    simulate_false_alarm_rate,
)
from tests.unit.science.drift.reference import P0, P1, REF_DELAY_MEAN, REF_DELAY_P90, REF_H


def test_design_p1_drops_15_points_but_not_below_half() -> None:
    assert design_p1(0.45) == 0.30
    assert design_p1(0.90) == 0.75
    assert design_p1(0.20) == 0.10
    with pytest.raises(ValueError):
        design_p1(1.0)


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
    grid, table = design._DEFAULT_TABLE_P0, design._DEFAULT_TABLE_H
    assert choose_threshold(grid[27], design_p1(grid[27])).h == table[27]
    between = default_threshold(0.3375)
    assert between == max(default_threshold(0.325), default_threshold(0.35))


def test_default_threshold_off_table_is_fast_and_within_design() -> None:
    design.designed_h.cache_clear()
    start = time.perf_counter()
    h = default_threshold(0.01)
    assert time.perf_counter() - start < 1.0
    far = simulate_false_alarm_rate(0.01, design_p1(0.01), h, n_sims=10_000, seed=99)
    assert far <= 0.06


@pytest.mark.parametrize("p0", [0.0375, 0.6125])
def test_default_threshold_between_grid_points_keeps_design(p0: float) -> None:
    far = simulate_false_alarm_rate(p0, design_p1(p0), default_threshold(p0), n_sims=10_000, seed=3)
    assert far <= 0.06
