"""How counts become the figures of /stats: window rates, local records, feedback."""

from __future__ import annotations

import pytest

from audits.contracts.types import Condition
from audits.science.intervals import wilson_interval
from service.telemetry.counting import (
    add_counts,
)
from service.telemetry.stats_figures import (
    MIN_FEEDBACK,
    counts_from,
    feedback_figures,
    local_view,
    rate_figure,
    window_figures,
)
from tests.support.telemetry import audit_record


def test_window_figures_use_the_right_denominators() -> None:
    counts = {"audits": 40, "shuffled_n": 30, "shuffled_k": 12, "hvr_n": 20, "hvr_k": 5}
    counts |= {"claim_n": 40, "claim_k": 28}
    figures = window_figures(900, counts)
    assert figures.IS.value == pytest.approx(0.4)
    assert (figures.IS.lo, figures.IS.hi) == wilson_interval(12, 30)
    assert figures.HVRR.n == 20 and figures.HVRR.value == pytest.approx(0.25)
    assert figures.claim_rate.n == 40 and figures.claim_rate.value == pytest.approx(0.7)
    assert figures.IS_blank.value is None and figures.IS_blank.n == 0
    assert rate_figure(0, 0).lo is None
    assert figures.by_modality == {}
    per_modality = counts | {
        "mod:CT:audits": 25,
        "mod:CT:shuffled_n": 20,
        "mod:CT:shuffled_k": 10,
        "mod:MR:audits": 15,
        "mod:MR:shuffled_n": 10,
        "mod:MR:shuffled_k": 2,
        "mod:MR:hvr_n": 10,
        "mod:MR:hvr_k": 4,
        "mod:MR:blank_n": 10,
        "mod:MR:blank_k": 7,
    }
    by_modality = window_figures(900, per_modality).by_modality
    assert set(by_modality) == {"CT", "MR"}
    assert by_modality["CT"].IS.value == pytest.approx(0.5)
    assert (by_modality["MR"].IS.lo, by_modality["MR"].IS.hi) == wilson_interval(2, 10)
    assert by_modality["MR"].HVRR.value == pytest.approx(0.4) and by_modality["CT"].HVRR.n == 0
    assert by_modality["MR"].IS_blank.value == pytest.approx(0.7)
    assert by_modality["CT"].IS_blank.n == 0


def test_local_view_windows_and_models() -> None:
    now = 10_000.0
    records = [
        audit_record("a", flips={Condition.SHUFFLED: True}, ts=now - 10),
        audit_record("b", flips={Condition.SHUFFLED: False}, ts=now - 1000),
        audit_record("c", flips={Condition.SHUFFLED: False}, ts=now - 5000),
        audit_record("d", flips={Condition.SHUFFLED: True}, ts=now - 5, model="other"),
    ]
    totals, per_window = local_view(records, "m", [900, 3600, 86400], now)
    assert totals["audits"] == 3
    assert per_window[900] == {
        "audits": 1,
        "run_shuffled": 1,
        "shuffled_n": 1,
        "shuffled_k": 1,
        "claim_n": 1,
        "skeptic_n": 1,
        "mod:unknown:audits": 1,
        "mod:unknown:shuffled_n": 1,
        "mod:unknown:shuffled_k": 1,
    }
    assert per_window[3600]["shuffled_n"] == 2 and per_window[3600]["shuffled_k"] == 1
    assert per_window[86400]["shuffled_n"] == 3
    assert counts_from(totals).conditions_run["shuffled"] == 3


def test_feedback_figures_appear_at_the_minimum_and_vrs_is_paired() -> None:
    assert feedback_figures({"n": MIN_FEEDBACK - 1, "n_real": 19}).accuracy is None
    # 30 requests judged under real and shuffled: 12 both right, 9 only real right,
    # 3 only shuffled right, 6 both wrong -> Acc_real 21/30, Acc_shuffled 15/30, VRS 0.2
    counts = {"n": 30, "n_real": 30, "correct_real": 21, "n_shuffled": 30, "correct_shuffled": 15}
    add_counts(counts, {"pair_11": 12, "pair_10": 9, "pair_01": 3, "pair_00": 6})
    figures = feedback_figures(counts)
    assert figures.accuracy is not None
    assert figures.accuracy["real"].value == pytest.approx(0.7)
    assert figures.accuracy["shuffled"].value == pytest.approx(0.5)
    assert "blank" not in figures.accuracy
    assert figures.vrs is not None and figures.vrs.n == 30
    assert figures.vrs.value == pytest.approx(0.2)
    assert figures.vrs.lo < 0.2 < figures.vrs.hi
