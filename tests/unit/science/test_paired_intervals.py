"""Honest intervals for paired differences and ratios (DESIGN.md "Honest tables")."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.proportion import confint_proportions_2indep

from audits.science.intervals import PairedCounts, mover_ratio, newcombe_paired_diff


def test_all_agreeing_pairs_keep_a_non_zero_width() -> None:
    # 20 items correct under both conditions: a bootstrap collapses to (0, 0)
    value, lo, hi = newcombe_paired_diff(
        PairedCounts(both=20, first_only=0, second_only=0, neither=0)
    )
    assert value == 0.0
    assert lo < -0.05 and hi > 0.05


def test_with_no_correlation_it_equals_newcombes_independent_interval() -> None:
    # a*d == b*c makes phi 0: method 10 then reduces to Newcombe's method for two independent
    # proportions with the same marginals, which statsmodels implements.
    counts = PairedCounts(both=6, first_only=3, second_only=4, neither=2)
    assert counts.both * counts.neither == counts.first_only * counts.second_only
    value, lo, hi = newcombe_paired_diff(counts)
    ref_lo, ref_hi = confint_proportions_2indep(
        counts.first, counts.n, counts.second, counts.n, method="newcomb", compare="diff"
    )
    assert value == pytest.approx((counts.first - counts.second) / counts.n)
    assert (lo, hi) == pytest.approx((float(ref_lo), float(ref_hi)), abs=1e-9)


def test_positive_correlation_narrows_the_interval() -> None:
    correlated = PairedCounts(both=40, first_only=8, second_only=2, neither=50)
    width = newcombe_paired_diff(correlated)
    ref_lo, ref_hi = confint_proportions_2indep(48, 100, 42, 100, method="newcomb", compare="diff")
    assert width[2] - width[1] < float(ref_hi - ref_lo)


@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30), st.integers(0, 30))
def test_newcombe_interval_is_ordered_and_bounded(a: int, b: int, c: int, d: int) -> None:
    counts = PairedCounts(both=a, first_only=b, second_only=c, neither=d)
    if counts.n == 0:
        return
    value, lo, hi = newcombe_paired_diff(counts)
    assert -1.0 <= lo <= value <= hi <= 1.0
    assert hi - lo > 0


def test_paired_counts_from_samples() -> None:
    counts = PairedCounts.of([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])
    assert counts == PairedCounts(both=2, first_only=1, second_only=1, neither=1)
    assert (counts.first, counts.second, counts.n) == (3, 3, 5)


def test_mover_ratio_reduces_to_wilson_limits_over_a_known_denominator() -> None:
    # with a huge denominator sample, p2 is known: the limits become Wilson(p1) / p2
    value, lo, hi = mover_ratio(8, 10, 500_000, 1_000_000)
    assert value == pytest.approx(1.6)
    assert lo == pytest.approx(0.4902 / 0.5, abs=2e-3)
    assert hi == pytest.approx(0.9433 / 0.5, abs=2e-3)


def test_mover_ratio_all_retained_is_not_degenerate() -> None:
    value, lo, hi = mover_ratio(10, 10, 10, 10)
    assert value == 1.0 and lo < 0.9 and hi > 1.1
    assert mover_ratio(3, 10, 0, 10) is None
    assert math.isinf(mover_ratio(1, 3, 1, 3)[2]) is False


def test_perfectly_concordant_balanced_table_keeps_its_width() -> None:
    # a = d, b = c = 0: the uncorrected phi of 1 collapsed the interval to (0, 0)
    value, lo, hi = newcombe_paired_diff(
        PairedCounts(both=1, first_only=0, second_only=0, neither=1)
    )
    assert value == 0.0 and lo < -0.1 and hi > 0.1
