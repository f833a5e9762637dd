"""The drift figures of /stats: a status only with a baseline and enough audits."""

from __future__ import annotations

from audits.science.drift.cusum import CusumState
from service.telemetry.drift.baseline import Baseline
from service.telemetry.drift.figures import drift_figures


def test_drift_figures_need_a_baseline_and_enough_audits() -> None:
    baseline = Baseline.for_rate(0.45, source="manual")
    assert drift_figures(CusumState(n=500), None, 100).status == "insufficient_data"
    assert drift_figures(CusumState(n=99), baseline, 100).status == "insufficient_data"
    assert drift_figures(CusumState(n=100), baseline, 100).status == "ok"
    alarmed = CusumState(statistic=7.0, n=40, alarm=True, alarm_at=40)
    figures = drift_figures(alarmed, baseline, 100)
    assert figures.status == "alarm" and figures.threshold == baseline.h
