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


class SustainableShare(BaseModel):
    """DESIGN.md section 5: the largest mirrored share whose audits all complete (none shed,
    the queue not growing) while production keeps the model about 50% busy."""

    mode: str
    share: float
    """0 when even the smallest share tried was not sustainable."""
    tried: list[LoadResult]


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


def evaluate_targets(report: BenchReport) -> list[Target]:
    targets: list[Target] = []
    base, full = _by_rate(report.below_saturation, 0.0), _by_rate(report.below_saturation, 1.0)
    if base and full:
        value = ratio(full.p99_ms, base.p99_ms)
        targets.append(
            Target(
                name="p99 ratio, 100% mirrored (below saturation)",
                value=value,
                goal="<= 1.10",
                met=value <= 1.10,
            )
        )
    base, full = _by_rate(report.saturation, 0.0), _by_rate(report.saturation, 1.0)
    if base and full:
        value = ratio(full.throughput_rps, base.throughput_rps)
        targets.append(
            Target(
                name="throughput ratio, 100% mirrored (saturation)",
                value=value,
                goal=">= 0.95",
                met=value >= 0.95,
            )
        )
    if report.audit_cost:
        score = report.audit_cost.score_vs_production
        generate = report.audit_cost.generate_vs_production
        tokens = report.audit_cost.production_output_tokens
        targets.append(
            Target(
                name=f"score-mode audit / production request ({tokens}-token outputs)",
                value=score,
                goal="<= 0.5",
                met=score <= 0.5,
            )
        )
        targets.append(
            Target(
                name=f"generate-mode audit / production request ({tokens}-token outputs)",
                value=generate,
                goal="<= 1.5",
                met=generate <= 1.5,
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
    "requests arriving during an audit step",
    "their mean wait for it, ms",
)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _timeline_row(r: LoadResult) -> list[str]:
    return [
        r.name,
        f"{r.mirror_rate:.0%}",
        _share(r.production_busy),
        _share(r.audit_busy),
        f"{_f(r.audit_step_p50_ms)} / {_f(r.audit_step_p99_ms)}",
        _share(r.arrived_during_audit),
        _f(r.audit_wait_mean_ms),
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


def render(report: BenchReport) -> str:
    m = report.machine
    lines = [
        f"# grounding-audit bench ({'quick' if report.quick else 'full'} run, {report.started_at})",
        "",
        f"Model {report.model} ({report.model_dir}); {m.device}; {m.cpu}, {m.cpu_count} cores, "
        f"torch {m.torch} with {m.torch_threads} threads; load average at start "
        f"{m.load_average_start[0]:.2f}"
        + (f", at end {m.load_average_end[0]:.2f}" if m.load_average_end else ""),
        "",
    ]
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
                    f"{s.share:.0%}",
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
            ("target", "measured", "goal", "met"),
            [[t.name, _f(t.value, 2), t.goal, "yes" if t.met else "NO"] for t in report.targets],
        )
        lines.append("")
    for note in report.notes:
        lines.append(f"- {note}")
    return "\n".join(lines).rstrip() + "\n"
