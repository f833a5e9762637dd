"""The bench prints a target as met only where its preconditions held: a below-saturation arm
at 9% utilisation or with 23 requests makes the p99 target invalid, with the reason."""

from __future__ import annotations

import random

import pytest

from loadtests.bench import arm_duration_s
from loadtests.bench_engine import LoadResult
from loadtests.bench_report import BenchReport, Calibration, Machine, evaluate_targets, render
from loadtests.bench_validity import (
    bootstrap_percentile_interval,
    bootstrap_ratio_interval,
    next_think_time_s,
)
from loadtests.timeline import timeline


def _arm(rate: float, requests: int, utilization: float, scale: float = 1.0) -> LoadResult:
    rng = random.Random(requests)
    latencies = [scale * (40 + rng.expovariate(1 / 20)) for _ in range(requests)]
    ordered = sorted(latencies)
    return LoadResult(
        name="below",
        mirror_rate=rate,
        producers=4,
        think_s=0.3,
        window_s=30,
        completed=requests,
        p50_ms=ordered[len(ordered) // 2],
        p99_ms=ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        throughput_rps=requests / 30,
        utilization=utilization,
        audits_submitted=0,
        audits_completed=0,
        audits_dropped=0,
        audits_left=0,
        audit_shed_share=0.0,
        latencies_ms=latencies,
    )


def _report(base: LoadResult, full: LoadResult, load: float = 0.2) -> BenchReport:
    return BenchReport(
        model_dir="m",
        model="m",
        quick=False,
        settings={},
        machine=Machine(
            cpu="cpu",
            cpu_count=2,
            torch_threads=2,
            device="cpu",
            python="3",
            torch="2",
            load_average_start=(load, load, load),
        ),
        below_saturation=[base, full],
        target_utilization=0.5,
        max_load=1.0,
        calibration=Calibration(target=0.5, tolerance=0.1, think_s=0.3, converged=True),
    )


def _p99_target(report: BenchReport):
    (target,) = [t for t in evaluate_targets(report) if t.name.startswith("p99")]
    return target


def test_a_run_at_9_percent_utilisation_is_invalid_not_met() -> None:
    report = _report(_arm(0.0, 400, 0.09), _arm(1.0, 400, 0.2))
    target = _p99_target(report)
    assert target.status == "invalid" and not target.met
    assert "9% busy" in target.reasons[0]
    printed = render(report.model_copy(update={"targets": [target]}))
    row = next(line for line in printed.splitlines() if line.startswith("| p99 ratio"))
    assert "invalid: the unmirrored arm kept the model 9% busy" in row
    assert "| met" not in row


def test_an_arm_of_23_requests_is_invalid_not_met() -> None:
    target = _p99_target(_report(_arm(0.0, 23, 0.5), _arm(1.0, 23, 0.9)))
    assert target.status == "invalid" and not target.met
    assert any("23 requests (< 200" in reason for reason in target.reasons)


def test_a_shared_machine_makes_timings_invalid() -> None:
    target = _p99_target(_report(_arm(0.0, 400, 0.5), _arm(1.0, 400, 0.9), load=8.1))
    assert target.status == "invalid"
    assert "load average 8.1" in target.reasons[0]


def test_a_calibration_that_did_not_converge_is_invalid() -> None:
    report = _report(_arm(0.0, 400, 0.5), _arm(1.0, 400, 0.9))
    report.calibration = Calibration(target=0.5, tolerance=0.1, think_s=0.3, converged=False)
    assert _p99_target(report).status == "invalid"


def test_preconditions_held_gives_met_or_missed_with_an_interval() -> None:
    met = _p99_target(_report(_arm(0.0, 400, 0.52), _arm(1.0, 400, 0.95)))
    assert met.status == "met" and met.met and met.interval is not None
    assert met.interval[0] <= met.value <= met.interval[1]
    missed = _p99_target(_report(_arm(0.0, 400, 0.52), _arm(1.0, 400, 0.95, scale=1.5)))
    assert missed.status == "missed" and not missed.met


def test_the_json_keeps_requests_utilisation_and_p99_interval_per_arm() -> None:
    report = _report(_arm(0.0, 400, 0.5), _arm(1.0, 400, 0.9))
    report.below_saturation[0].p99_interval_ms = (80.0, 120.0)
    arm = report.model_dump(mode="json")["below_saturation"][0]
    assert {"completed", "utilization", "p50_ms", "p99_ms", "p99_interval_ms"} <= set(arm)
    assert "latencies_ms" not in arm


def test_quick_runs_say_so() -> None:
    report = _report(_arm(0.0, 60, 0.5), _arm(1.0, 60, 0.9))
    report.quick = True
    assert "QUICK RUN" in render(report)


def test_bootstrap_intervals_cover_the_point_value_and_narrow_with_more_requests() -> None:
    rng = random.Random(1)
    few = [rng.expovariate(1) for _ in range(50)]
    many = [rng.expovariate(1) for _ in range(2000)]
    low_few, high_few = bootstrap_percentile_interval(few, 99)
    low_many, high_many = bootstrap_percentile_interval(many, 99)
    assert high_many - low_many < high_few - low_few
    low, high = bootstrap_ratio_interval(many, many, 99)
    assert low <= 1.0 <= high
    assert bootstrap_percentile_interval([1.0], 99) is None


@pytest.mark.parametrize("utilization", [0.09, 0.3, 0.8])
def test_calibration_moves_the_busy_share_towards_the_target(utilization: float) -> None:
    """A closed loop of N clients: busy share = N * S / (latency + think). One step of
    next_think_time_s lands on the target when the latency does not change."""
    clients, service, latency, think = 4, 0.05, 0.06, 4 * 0.05 / utilization - 0.06
    think = next_think_time_s(think, latency, utilization, 0.5)
    assert clients * service / (latency + think) == pytest.approx(0.5, rel=0.05)


def test_arms_run_long_enough_for_their_requests() -> None:
    assert arm_duration_s(300, 10.0, 2, 5.0) == pytest.approx(16.5)
    assert arm_duration_s(300, 0.0, 2, 5.0) == 5.0


def test_production_served_inside_an_audit_step_splits_it_into_slices() -> None:
    """The engine serves production between two decoding steps of an audit: the production
    call lies inside the audit call. A request arriving during the audit waits only for the
    rest of the slice it arrived in."""
    calls = [("production", 1.02, 1.05), ("audit", 1.0, 1.10)]
    seen = timeline(calls, arrivals=[1.01, 1.07], low=0.0, high=2.0)
    assert seen.audit_busy_s == pytest.approx(0.07)
    assert seen.production_busy_s == pytest.approx(0.03)
    assert seen.blocked_waits_ms == pytest.approx([10.0, 30.0])
    assert seen.audit_slices_ms == pytest.approx([20.0, 50.0])
    assert seen.audit_steps_ms == pytest.approx([100.0])


def test_a_sustainable_share_at_an_uncalibrated_load_is_invalid() -> None:
    from loadtests.bench_report import SustainableShare

    report = _report(_arm(0.0, 400, 0.09), _arm(1.0, 400, 0.2))
    report.calibration = Calibration(target=0.5, tolerance=0.1, think_s=9.0, converged=False)
    report.sustainable = [SustainableShare(mode="score", share=1.0, tried=[])]
    evaluate_targets(report)
    assert report.sustainable[0].reasons
    assert "100% (invalid: the production load was not calibrated" in render(report)


def test_other_processes_busy_during_the_run_make_timings_invalid(tmp_path) -> None:
    import os

    from loadtests.bench_validity import CpuSnapshot, cpu_snapshot, other_cpu_cores

    tick = os.sysconf("SC_CLK_TCK")
    stat = tmp_path / "stat"
    stat.write_text(f"cpu  {3 * tick} 0 {tick} {10 * tick} {tick} 0 0 0 0 0\ncpu0 1 2 3\n")
    snapshot = cpu_snapshot(stat)
    assert snapshot.machine_busy_s == 4.0  # user + system; idle and iowait are not busy
    start, end = CpuSnapshot(0.0, 10.0, 1.0), CpuSnapshot(10.0, 25.0, 8.0)
    assert other_cpu_cores(start, end) == pytest.approx(0.8)  # (15 - 7) s over 10 s
    report = _report(_arm(0.0, 400, 0.5), _arm(1.0, 400, 0.9))
    report.other_cpu_cores = 0.8
    target = _p99_target(report)
    assert target.status == "invalid" and "0.80 cores busy" in target.reasons[0]
