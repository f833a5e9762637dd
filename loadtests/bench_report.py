"""The benchmark's JSON document, its targets and its printed (Markdown) tables."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from loadtests.bench_engine import LoadResult
from loadtests.bench_micro import AuditCostResult, MicroResult
from loadtests.bench_validity import (
    MIN_COST_ROUNDS,
    MIN_REQUESTS_P99,
    SATURATED_UTILIZATION,
    bootstrap_ratio_interval,
    load_problem,
    other_cpu_problem,
    requests_problem,
    status,
    utilization_problem,
)
from loadtests.timing import ratio


class Machine(BaseModel):
    cpu: str
    cpu_count: int
    torch_threads: int
    device: str
    python: str
    torch: str
    load_average_start: tuple[float, float, float]
    load_average_end: tuple[float, float, float] | None = None


class Target(BaseModel):
    name: str
    value: float
    goal: str
    met: bool
    """True only when every precondition held and the value meets the goal."""
    status: str = ""
    """met, missed, or invalid (a precondition failed: see reasons)."""
    reasons: list[str] = Field(default_factory=list)
    interval: tuple[float, float] | None = None
    """95% bootstrap interval of the value, where there is one."""


class CalibrationStep(BaseModel):
    think_s: float
    utilization: float
    mean_latency_ms: float
    requests: int


class Calibration(BaseModel):
    """The closed loop's think time, tuned until the unmirrored arm keeps the model busy at the
    target share (within the tolerance); checked again on the measured arm after the run."""

    target: float
    tolerance: float
    think_s: float
    converged: bool
    steps: list[CalibrationStep] = Field(default_factory=list)


class SustainableShare(BaseModel):
    """DESIGN.md section 5: the largest mirrored share whose audits all complete (none shed,
    the queue not growing) while production keeps the model about 50% busy."""

    mode: str
    share: float
    """0 when even the smallest share tried was not sustainable."""
    tried: list[LoadResult]
    reasons: list[str] = Field(default_factory=list)
    """Why the share is invalid (set by evaluate_targets); empty when its preconditions held."""


class BenchReport(BaseModel):
    started_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    model_dir: str
    model: str
    quick: bool
    settings: dict[str, object]
    machine: Machine
    micro: MicroResult | None = None
    audit_cost: AuditCostResult | None = None
    audit_cost_one_word: AuditCostResult | None = None
    """The same audit on the one-word grounded model (the second row)."""
    sustainable: list[SustainableShare] = Field(default_factory=list)
    below_saturation: list[LoadResult] = Field(default_factory=list)
    saturation: list[LoadResult] = Field(default_factory=list)
    http_below_saturation: list[LoadResult] = Field(default_factory=list)
    http_saturation: list[LoadResult] = Field(default_factory=list)
    targets: list[Target] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    duration_s: float | None = None
    target_utilization: float = 0.5
    calibration: Calibration | None = None
    min_requests: int = MIN_REQUESTS_P99
    """Requests each below-saturation and saturation arm aims at."""
    cost_rounds: int | None = None
    max_load: float | None = None
    """Largest 1-minute load average at the start that counts as a quiet machine."""
    other_cpu_cores: float | None = None
    """Cores other processes kept busy on average during the run (from /proc/stat)."""


def describe_machine(device: str) -> Machine:
    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    if device.startswith("cuda") and torch.cuda.is_available():
        device = f"{device} ({torch.cuda.get_device_name()})"
    return Machine(
        cpu=cpu,
        cpu_count=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1,
        torch_threads=torch.get_num_threads(),
        device=device,
        python=platform.python_version(),
        torch=torch.__version__,
        load_average_start=os.getloadavg(),
    )


def _by_rate(results: Sequence[LoadResult], rate: float) -> LoadResult | None:
    return next((r for r in results if math.isclose(r.mirror_rate, rate)), None)


def _target(
    name: str,
    value: float,
    goal: str,
    problems: Sequence[str | None],
    interval: tuple[float, float] | None = None,
) -> Target:
    verdict, reasons = status(value, goal, problems)
    return Target(
        name=name,
        value=value,
        goal=goal,
        met=verdict == "met",
        status=verdict,
        reasons=reasons,
        interval=interval,
    )


def _machine_problem(report: BenchReport) -> str | None:
    m = report.machine
    problems = [
        None
        if report.max_load is None
        else load_problem(m.load_average_start[0], m.cpu_count, report.max_load),
        other_cpu_problem(report.other_cpu_cores),
    ]
    found = [problem for problem in problems if problem]
    return "; ".join(found) if found else None


def evaluate_targets(report: BenchReport) -> list[Target]:
    """Each target with its preconditions: a figure whose preconditions failed is invalid.
    Also sets the reasons of each sustainable share measured at an uncalibrated load."""
    targets: list[Target] = []
    machine = _machine_problem(report)
    base, full = _by_rate(report.below_saturation, 0.0), _by_rate(report.below_saturation, 1.0)
    if base and full:
        calibration = report.calibration
        problems = [
            machine,
            utilization_problem(base.utilization, report.target_utilization),
            requests_problem("0% mirrored", base.completed),
            requests_problem("100% mirrored", full.completed),
        ]
        if calibration is not None and not calibration.converged:
            problems.append(
                f"the calibration did not reach {calibration.target:.0%} +- "
                f"{calibration.tolerance:.0%} busy (last: "
                f"{calibration.steps[-1].utilization:.0%})"
                if calibration.steps
                else "the calibration did not run"
            )
        targets.append(
            _target(
                "p99 ratio, 100% mirrored (below saturation)",
                ratio(full.p99_ms, base.p99_ms),
                "<= 1.10",
                problems,
                bootstrap_ratio_interval(full.latencies_ms, base.latencies_ms, 99),
            )
        )
    base, full = _by_rate(report.saturation, 0.0), _by_rate(report.saturation, 1.0)
    if base and full:
        saturated = [
            f"the {r.mirror_rate:.0%} saturation arm kept the model only {r.utilization:.0%} "
            f"busy (< {SATURATED_UTILIZATION:.0%})"
            for r in (base, full)
            if r.utilization is not None and r.utilization < SATURATED_UTILIZATION
        ]
        targets.append(
            _target(
                "throughput ratio, 100% mirrored (saturation)",
                ratio(full.throughput_rps, base.throughput_rps),
                ">= 0.95",
                [
                    machine,
                    *saturated,
                    requests_problem("0% saturation", base.completed, purpose="a steady rate"),
                    requests_problem("100% saturation", full.completed, purpose="a steady rate"),
                ],
            )
        )
    for share in report.sustainable:
        calibration = report.calibration
        share.reasons = [
            reason
            for reason in (
                machine,
                None
                if calibration is None or calibration.converged
                else "the production load was not calibrated to the target utilisation",
            )
            if reason
        ]
    if report.audit_cost:
        cost = report.audit_cost
        tokens = cost.production_output_tokens
        rounds = report.cost_rounds
        few = (
            f"{rounds} interleaved rounds (< {MIN_COST_ROUNDS})"
            if rounds is not None and rounds < MIN_COST_ROUNDS
            else None
        )
        for mode, value, goal in (
            ("score", cost.score_vs_production, "<= 0.5"),
            ("generate", cost.generate_vs_production, "<= 1.5"),
        ):
            targets.append(
                _target(
                    f"{mode}-mode audit / production request ({tokens}-token outputs)",
                    value,
                    goal,
                    [machine, few],
                )
            )
    return targets


def _f(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _load_rows(results: Sequence[LoadResult]) -> list[list[str]]:
    base = _by_rate(results, 0.0)
    rows = []
    for r in results:
        audits = (
            f"{r.audits_submitted} / {r.audits_completed} / {r.audits_dropped} / {r.audits_left}"
        )
        rows.append(
            [
                f"{r.mirror_rate:.0%}",
                str(r.producers),
                _f(r.think_s * 1000, 0),
                str(r.completed),
                _f(r.p50_ms),
                _f(r.p99_ms),
                _interval(r.p99_interval_ms),
                _f(ratio(r.p99_ms, base.p99_ms), 2) if base else "-",
                _f(r.throughput_rps),
                _f(ratio(r.throughput_rps, base.throughput_rps), 3) if base else "-",
                "-" if r.utilization is None else f"{r.utilization:.0%}",
                audits,
                f"{r.audit_shed_share:.0%}",
            ]
        )
    return rows


LOAD_HEADER = (
    "mirrored",
    "clients",
    "think ms",
    "requests",
    "p50 ms",
    "p99 ms",
    "p99 95% interval",
    "p99 / 0%",
    "req/s",
    "req/s / 0%",
    "model busy",
    "audits queued / done / shed / left",
    "shed share",
)


TIMELINE_HEADER = (
    "phase",
    "mirrored",
    "production busy",
    "audit busy",
    "audit step p50 / p99 ms",
    "audit slice p50 / p99 ms",
    "requests arriving during an audit step (share)",
    "their wait for it, mean / p99 ms",
)


def _interval(interval: tuple[float, float] | None, digits: int = 1) -> str:
    if interval is None:
        return "-"
    return f"{_f(interval[0], digits)}-{_f(interval[1], digits)}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _timeline_row(r: LoadResult) -> list[str]:
    return [
        r.name,
        f"{r.mirror_rate:.0%}",
        _share(r.production_busy),
        _share(r.audit_busy),
        f"{_f(r.audit_step_p50_ms)} / {_f(r.audit_step_p99_ms)}",
        f"{_f(r.audit_slice_p50_ms)} / {_f(r.audit_slice_p99_ms)}",
        "-"
        if r.arrived_during_audit_count is None
        else f"{r.arrived_during_audit_count} ({_share(r.arrived_during_audit)})",
        f"{_f(r.audit_wait_mean_ms)} / {_f(r.audit_wait_p99_ms)}",
    ]


def _cost_row(c: AuditCostResult) -> list[str]:
    return [
        f"{c.model} ({c.production_output_tokens})",
        _f(c.production_ms),
        _f(c.generate_vs_production, 2),
        f"{_f(c.score_vs_production, 2)} ({c.scored_rows})",
        _f(c.both_vs_production, 2),
        f"{c.generate_batched_vs_sequential:.2f}, {c.score_batched_vs_sequential:.2f}",
    ]


def _status(target: Target) -> str:
    if target.status == "invalid":
        return "invalid: " + "; ".join(target.reasons)
    if target.status == "met" and target.interval is not None:
        low, high = target.interval
        if not (
            (target.goal.startswith("<=") and high <= float(target.goal.split()[1]))
            or (target.goal.startswith(">=") and low >= float(target.goal.split()[1]))
        ):
            return "met (point value; the interval crosses the goal)"
    return target.status or ("met" if target.met else "missed")


def _calibration_lines(c: Calibration) -> list[str]:
    tried = ", ".join(f"{step.think_s * 1000:.0f} ms -> {step.utilization:.0%}" for step in c.steps)
    verdict = "reached" if c.converged else "NOT reached"
    return [
        f"Calibration: think time tuned for {c.target:.0%} +- {c.tolerance:.0%} model busy "
        f"({verdict}): {tried}; think time used {c.think_s * 1000:.0f} ms.",
        "",
    ]


def render(report: BenchReport) -> str:
    m = report.machine
    lines = [
        f"# grounding-audit bench ({'quick' if report.quick else 'full'} run, {report.started_at})",
        "",
    ]
    if report.quick:
        lines += [
            f"QUICK RUN: fewer requests per arm than the {report.min_requests} a p99 needs "
            "and fewer rounds; its p99 figures are marked invalid where they are short.",
            "",
        ]
    lines += [
        f"Model {report.model} ({report.model_dir}); {m.device}; {m.cpu}, {m.cpu_count} cores, "
        f"torch {m.torch} with {m.torch_threads} threads; load average at start "
        f"{m.load_average_start[0]:.2f}"
        + (f", at end {m.load_average_end[0]:.2f}" if m.load_average_end else "")
        + (
            f"; other processes used {report.other_cpu_cores:.2f} cores on average during the run"
            if report.other_cpu_cores is not None
            else ""
        ),
        "",
    ]
    if report.calibration:
        lines += _calibration_lines(report.calibration)
    if report.micro:
        mi = report.micro
        lines += ["## Runtime: one item and its variants (median ms)", ""]
        lines += _table(
            ("call", "ms", "ratio"),
            [
                ["generate, 1 item", _f(mi.generate_one_ms), "1.00"],
                [
                    "generate, batch of 3 (real, other image, blank)",
                    _f(mi.generate_batch3_ms),
                    f"{mi.batch3_vs_one:.2f} of 1 item",
                ],
                [
                    "generate, 3 calls one after another",
                    _f(mi.generate_sequential3_ms),
                    f"batch / sequential = {mi.batch_vs_sequential:.2f}",
                ],
                [
                    "score, batch of 3",
                    _f(mi.score_batch3_ms),
                    f"{mi.score3_vs_generate_one:.2f} of generate 1; "
                    f"{mi.score3_vs_generate3:.2f} of generate 3",
                ],
            ],
        )
        lines.append("")
    costs = [c for c in (report.audit_cost, report.audit_cost_one_word) if c is not None]
    if costs:
        lines += ["## Audit cost: shuffled + blank + no_image vs one production request", ""]
        lines += _table(
            (
                "model (output tokens)",
                "production ms",
                "generate audit / production",
                "score audit / production (rows)",
                "both / production",
                "batched / one after another: generate, score",
            ),
            [_cost_row(c) for c in costs],
        )
        lines.append("")
    if report.sustainable:
        lines += ["## Sustainable audit share at ~50% production utilisation", ""]
        lines += _table(
            ("audit mode", "sustainable share", "tried: share (shed / left in queue)"),
            [
                [
                    s.mode,
                    f"{s.share:.0%}"
                    + (" (invalid: " + "; ".join(s.reasons) + ")" if s.reasons else ""),
                    ", ".join(
                        f"{r.mirror_rate:.0%} ({r.audits_dropped} / {r.audits_left})"
                        for r in s.tried
                    ),
                ]
                for s in report.sustainable
            ],
        )
        lines.append("")
    sections = (
        ("Engine, closed loop below saturation", report.below_saturation),
        ("Engine at saturation", report.saturation),
        ("HTTP (bentoml serve), below saturation", report.http_below_saturation),
        ("HTTP (bentoml serve), saturation", report.http_saturation),
    )
    for title, results in sections:
        if results:
            lines += [f"## {title}", ""]
            lines += _table(LOAD_HEADER, _load_rows(results))
            lines.append("")
    engine_runs = [
        r for r in (*report.below_saturation, *report.saturation) if r.audit_busy is not None
    ]
    if engine_runs:
        lines += ["## Engine timeline: who held the model", ""]
        lines += _table(TIMELINE_HEADER, [_timeline_row(r) for r in engine_runs])
        lines.append("")
    if report.targets:
        lines += ["## Targets (figures, not assertions)", ""]
        lines += _table(
            ("target", "measured", "95% interval", "goal", "status"),
            [
                [t.name, _f(t.value, 2), _interval(t.interval, 2), t.goal, _status(t)]
                for t in report.targets
            ],
        )
        lines.append("")
    for note in report.notes:
        lines.append(f"- {note}")
    return "\n".join(lines).rstrip() + "\n"
