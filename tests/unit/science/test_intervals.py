from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from audits.science.intervals import (
    entropy,
    letter_distribution,
    mcnemar,
    paired_bootstrap_diff,
    pass_at_k_unbiased,
)


def test_paired_bootstrap_diff_value_interval_and_determinism() -> None:
    a = [1.0] * 80 + [0.0] * 20
    b = [1.0] * 50 + [0.0] * 50
    value, lo, hi = paired_bootstrap_diff(a, b, n_boot=1000, seed=3)
    assert value == pytest.approx(0.3)
    assert lo < value < hi
    # normal approximation of the paired difference: sd of d = a-b over sqrt(n)
    d = [x - y for x, y in zip(a, b, strict=True)]
    mean = sum(d) / len(d)
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / len(d)) / math.sqrt(len(d))
    assert lo == pytest.approx(value - 1.96 * sd, abs=0.03)
    assert hi == pytest.approx(value + 1.96 * sd, abs=0.03)
    assert paired_bootstrap_diff(a, b, n_boot=1000, seed=3) == (value, lo, hi)
    assert paired_bootstrap_diff(a, b, n_boot=1000, seed=4) != (value, lo, hi)


def test_paired_bootstrap_resamples_items_jointly() -> None:
    # identical paired samples: every joint resample has difference exactly 0
    a = [0.0, 1.0, 1.0, 0.0, 1.0]
    assert paired_bootstrap_diff(a, a, n_boot=200) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_single_item_and_bad_input() -> None:
    assert paired_bootstrap_diff([1.0], [0.0], n_boot=50) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="equal"):
        paired_bootstrap_diff([1.0, 0.0], [1.0])
    with pytest.raises(ValueError, match="empty"):
        paired_bootstrap_diff([], [])


@pytest.mark.parametrize(("b", "c"), [(0, 1), (10, 0), (3, 7), (12, 12), (40, 25), (200, 170)])
def test_mcnemar_exact_matches_binomial_test(b: int, c: int) -> None:
    expected = sps.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue
    assert mcnemar(b, c) == pytest.approx(expected, rel=1e-9)


def test_mcnemar_edge_cases_and_chi_square() -> None:
    assert mcnemar(0, 0) == 1.0
    assert mcnemar(10, 0) == pytest.approx(2 * 0.5**10)
    stat = (abs(60 - 30) - 1) ** 2 / 90
    assert mcnemar(60, 30, exact=False) == pytest.approx(sps.chi2.sf(stat, 1))
    # Edwards' continuity correction as statsmodels applies it: (|b - c| - 1)^2 / (b + c)
    assert mcnemar(5, 5, exact=False) == pytest.approx(sps.chi2.sf(1 / 10, 1))
    with pytest.raises(ValueError):
        mcnemar(-1, 2)


@pytest.mark.parametrize(
    ("n", "c", "k"), [(10, 0, 1), (10, 3, 1), (10, 3, 4), (20, 5, 10), (5, 5, 2)]
)
def test_pass_at_k_unbiased_matches_combinatorial_formula(n: int, c: int, k: int) -> None:
    expected = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k_unbiased(n, c, k) == pytest.approx(expected)


def test_pass_at_k_special_cases() -> None:
    assert pass_at_k_unbiased(8, 3, 1) == pytest.approx(3 / 8)
    assert pass_at_k_unbiased(8, 6, 3) == 1.0  # fewer than k wrong samples
    assert pass_at_k_unbiased(8, 0, 8) == 0.0
    with pytest.raises(ValueError):
        pass_at_k_unbiased(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k_unbiased(4, 1, 5)


def test_letter_distribution_renormalizes_over_letters() -> None:
    logps = {"A": math.log(0.2), "B": math.log(0.1), "C": math.log(0.1)}
    dist = letter_distribution(logps)
    assert dist == pytest.approx({"A": 0.5, "B": 0.25, "C": 0.25})
    shifted = letter_distribution({k: v - 50.0 for k, v in logps.items()})
    assert shifted == pytest.approx(dist)
    assert letter_distribution(logps, letters=["B", "C", "Z"]) == pytest.approx(
        {"B": 0.5, "C": 0.5}
    )
    assert letter_distribution({"A": 0.0, "B": -math.inf}) == {"A": 1.0, "B": 0.0}
    with pytest.raises(ValueError):
        letter_distribution({})


def test_entropy_in_nats_and_bits() -> None:
    uniform = {k: 0.25 for k in "ABCD"}
    assert entropy(uniform) == pytest.approx(math.log(4))
    assert entropy(uniform, base=2) == pytest.approx(2.0)
    assert entropy({"A": 1.0, "B": 0.0}) == 0.0
    assert entropy({"A": 2.0, "B": 2.0}) == pytest.approx(math.log(2))  # renormalized
    with pytest.raises(ValueError):
        entropy({"A": -0.1, "B": 1.1})
