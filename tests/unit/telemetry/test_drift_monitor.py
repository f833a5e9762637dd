"""The pure parts of the shared drift monitor: increments, buckets, figures, baseline, feedback."""

from __future__ import annotations

import random

import pytest

from audits.contracts.records import AuditRecord
from audits.contracts.types import ClaimSpan, Condition, ItemFlags
from audits.science.drift import BernoulliCusum, CusumState
from audits.science.stats import wilson_interval
from service.telemetry.counting import (
    add_counts,
    bucket_resolution,
    bucket_ttls,
    record_increments,
    window_buckets,
    window_label,
)
from service.telemetry.drift.baseline import P0_MAX, P0_MIN, Baseline
from service.telemetry.drift.figures import drift_figures
from service.telemetry.drift_monitor import DriftMonitor
from service.telemetry.stats_figures import (
    MIN_FEEDBACK,
    counts_from,
    feedback_figures,
    local_view,
    rate_figure,
    window_figures,
)

CLAIM = ClaimSpan(start=0, end=6, text="opacity", category="finding", trigger="shows")


def record(
    request_id: str = "r",
    *,
    flips: dict[Condition, bool] | None = None,
    hvr: bool | None = None,
    claims: int = 0,
    skipped: dict[Condition, str] | None = None,
    ts: float = 1000.0,
    model: str = "m",
) -> AuditRecord:
    flips = flips or {}
    skipped = skipped or {}
    return AuditRecord(
        request_id=request_id,
        ts=ts,
        model=model,
        image_id="0" * 64,
        mode="generate",
        conditions=[c for c in (*flips, *skipped) if c not in skipped],
        skipped=skipped,
        flags=ItemFlags(flips=flips, hvr=hvr, claim_spans=[CLAIM] * claims, skipped=skipped),
        duration_ms=5.0,
    )


def test_increments_count_known_values_only() -> None:
    full = record(
        flips={Condition.SHUFFLED: True, Condition.BLANK: False},
        hvr=False,
        claims=2,
    )
    assert record_increments(full) == {
        "audits": 1,
        "run_shuffled": 1,
        "run_blank": 1,
        "shuffled_n": 1,
        "shuffled_k": 1,
        "blank_n": 1,
        "hvr_n": 1,
        "claim_k": 1,
        "mod:unknown:audits": 1,
        "mod:unknown:shuffled_n": 1,
        "mod:unknown:shuffled_k": 1,
        "mod:unknown:blank_n": 1,
        "mod:unknown:hvr_n": 1,
    }
    skipped = record(
        flips={Condition.BLANK: True}, skipped={Condition.SHUFFLED: "empty pool"}, hvr=None
    )
    inc = record_increments(skipped)
    assert inc == {
        "audits": 1,
        "run_blank": 1,
        "skipped_shuffled": 1,
        "blank_n": 1,
        "blank_k": 1,
        "mod:unknown:audits": 1,
        "mod:unknown:blank_n": 1,
        "mod:unknown:blank_k": 1,
    }, "an unknown flip_shuffled or hvr must not enter a denominator"
    ct = full.model_copy(update={"modality": "CT"})
    assert {k: v for k, v in record_increments(ct).items() if k.startswith("mod:")} == {
        "mod:CT:audits": 1,
        "mod:CT:shuffled_n": 1,
        "mod:CT:shuffled_k": 1,
        "mod:CT:blank_n": 1,
        "mod:CT:hvr_n": 1,
    }


def test_window_buckets_cover_the_window_and_at_most_one_bucket_more() -> None:
    rng = random.Random(3)
    for window in (900, 3600, 86400):
        resolution = bucket_resolution(window)
        now = 1_700_000_000 + rng.random() * 10_000
        buckets = window_buckets(now, window)
        assert len(buckets) <= window // resolution + 1
        for _ in range(2000):
            ts = now - rng.random() * (window + 3 * resolution)
            inside = now - window < ts <= now
            read = int(ts // resolution) in buckets
            if inside:
                assert read, (window, now, ts)
            if read:
                assert ts > now - window - resolution, "no more than one extra bucket"


def test_bucket_sizes_and_ttls() -> None:
    assert [bucket_resolution(w) for w in (900, 3600, 86400)] == [60, 60, 1440]
    assert bucket_ttls([900, 3600, 86400]) == {60: 3600 + 120, 1440: 86400 + 2880}
    assert [window_label(w) for w in (900, 3600, 86400, 90)] == ["15m", "1h", "24h", "90s"]


def test_window_figures_use_the_right_denominators() -> None:
    counts = {"audits": 40, "shuffled_n": 30, "shuffled_k": 12, "hvr_n": 20, "hvr_k": 5}
    counts |= {"claim_k": 28}
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
        record("a", flips={Condition.SHUFFLED: True}, ts=now - 10),
        record("b", flips={Condition.SHUFFLED: False}, ts=now - 1000),
        record("c", flips={Condition.SHUFFLED: False}, ts=now - 5000),
        record("d", flips={Condition.SHUFFLED: True}, ts=now - 5, model="other"),
    ]
    totals, per_window = local_view(records, "m", [900, 3600, 86400], now)
    assert totals["audits"] == 3
    assert per_window[900] == {
        "audits": 1,
        "run_shuffled": 1,
        "shuffled_n": 1,
        "shuffled_k": 1,
        "mod:unknown:audits": 1,
        "mod:unknown:shuffled_n": 1,
        "mod:unknown:shuffled_k": 1,
    }
    assert per_window[3600]["shuffled_n"] == 2 and per_window[3600]["shuffled_k"] == 1
    assert per_window[86400]["shuffled_n"] == 3
    assert counts_from(totals).conditions_run["shuffled"] == 3


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


def test_drift_figures_need_a_baseline_and_enough_audits() -> None:
    baseline = Baseline.for_rate(0.45, source="manual")
    assert drift_figures(CusumState(n=500), None, 100).status == "insufficient_data"
    assert drift_figures(CusumState(n=99), baseline, 100).status == "insufficient_data"
    assert drift_figures(CusumState(n=100), baseline, 100).status == "ok"
    alarmed = CusumState(statistic=7.0, n=40, alarm=True, alarm_at=40)
    figures = drift_figures(alarmed, baseline, 100)
    assert figures.status == "alarm" and figures.threshold == baseline.h


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


def test_update_plan_lines_keys_up_with_arguments() -> None:
    monitor = DriftMonitor(windows_s=[900, 3600, 86400], min_audits=50)
    rec = record(flips={Condition.SHUFFLED: False}, hvr=True, claims=1, ts=86_400.0 * 3 + 61)
    keys, args = monitor.update_plan(rec)
    assert keys[:5] == [
        "{grounding}:drift:m:baseline",
        "{grounding}:drift:m:cusum",
        "{grounding}:drift:m:warmup",
        "{grounding}:drift:m:pending",
        "{grounding}:drift:m:counts",
    ]
    assert keys[5:] == ["{grounding}:drift:m:b60:4321", "{grounding}:drift:m:b1440:180"]
    inc = record_increments(rec)
    assert args[:4] == ["50", "0", "unknown|unknown", str(len(inc))]
    pairs = dict(zip(args[4 : 4 + 2 * len(inc) : 2], args[5 : 5 + 2 * len(inc) : 2], strict=True))
    assert pairs == {field: str(value) for field, value in inc.items()}
    assert args[4 + 2 * len(inc) :] == ["3720", "89280"], "one TTL per bucket key"
    with pytest.raises(ValueError):
        DriftMonitor(windows_s=[0], min_audits=1)


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
