"""The /stats verdict: healthy, degraded or insufficient data, with its reasons in words."""

from __future__ import annotations

from service.telemetry.drift.baseline import Baseline
from service.telemetry.drift.figures import DriftFigures
from service.telemetry.stats_figures import (
    Counts,
    FeedbackFigures,
    StatsReport,
    window_figures,
)
from service.telemetry.verdict import summary_view, verdict_of


def _report(
    *, alarm: bool = False, baseline: bool = True, n: int = 150, warmup_n: int = 0,
    hvr: tuple[int, int] = (10, 100),
) -> StatsReport:  # fmt: skip
    window = window_figures(
        21600,
        {"audits": 100, "shuffled_n": 100, "shuffled_k": 45, "hvr_n": hvr[1], "hvr_k": hvr[0]},
    )
    return StatsReport(
        model="m",
        source="redis",
        as_of=0.0,
        counts=Counts(audits=100, conditions_run={}, skipped={}),
        windows={"6h": window},
        baseline=Baseline.for_counts({"closed|CT": (100, 45)}, source="test") if baseline else None,
        drift=DriftFigures(
            status="alarm" if alarm else "ok",
            statistic=6.0 if alarm else 0.5,
            threshold=4.5,
            alarm=alarm,
            alarm_at=120 if alarm else None,
            n=n,
            min_audits=100,
            warmup_n=warmup_n,
        ),
        feedback=FeedbackFigures(n=0, accuracy=None, vrs=None),
        audit_queue_depth=0,
        redis=None,
    )


def test_a_fresh_service_says_how_much_traffic_it_takes_to_know() -> None:
    verdict = verdict_of(_report(baseline=False, n=0, warmup_n=30), sample_rate=0.1)
    assert verdict.status == "insufficient_data"
    assert "30 of the 100 audits" in verdict.reasons[0]
    assert verdict.next_step is not None and "700 more production requests" in verdict.next_step


def test_a_drift_alarm_is_degraded_with_its_numbers() -> None:
    verdict = verdict_of(_report(alarm=True), sample_rate=0.1)
    assert verdict.status == "degraded"
    assert "6.00" in verdict.reasons[0] and "4.50" in verdict.reasons[0]
    assert "audit 120" in verdict.reasons[0]


def test_hallucinated_reasoning_above_forty_percent_is_degraded() -> None:
    assert verdict_of(_report(hvr=(60, 100)), sample_rate=0.1).status == "degraded"
    # an interval that reaches below 40% is not enough
    assert verdict_of(_report(hvr=(44, 100)), sample_rate=0.1).status == "healthy"


def test_healthy_names_the_is_it_rests_on() -> None:
    verdict = verdict_of(_report(), sample_rate=0.1)
    assert verdict.status == "healthy"
    assert any(reason.startswith("IS over the last 360 min: 0.450") for reason in verdict.reasons)


def test_summary_is_short_and_readable() -> None:
    report = _report()
    summary = summary_view(report, verdict_of(report, sample_rate=0.1))
    assert summary["verdict"]["status"] == "healthy"
    assert summary["windows"]["6h"]["IS"].startswith("0.450 [")
    assert "(k=45, n=100)" in summary["windows"]["6h"]["IS"]
    assert len(str(summary)) < 1200


def test_the_summary_shows_every_registered_rate_once_it_has_audits() -> None:
    report = _report()
    headline = summary_view(report, verdict_of(report, sample_rate=0.1))["windows"]["6h"]
    assert "laterality_consistency" not in headline  # flipped is not audited here
    assert {"IS", "IS_blank", "HVRR", "claim_rate"} <= set(headline)
    counts = {"audits": 40, "laterality_consistency_n": 10, "laterality_consistency_k": 9}
    report.windows["6h"] = window_figures(21600, counts)
    with_mirror = summary_view(report, verdict_of(report, sample_rate=0.1))["windows"]["6h"]
    assert with_mirror["laterality_consistency"].startswith("0.900 [")
