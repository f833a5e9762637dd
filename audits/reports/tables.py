"""The core report's tables as data: column names and formatted rows, from ``AuditMetrics``."""

from __future__ import annotations

from audits.contracts.types import ALL_CONDITIONS, COUNTERFACTUALS
from audits.reports.format import fmt_diff, fmt_p, fmt_rate, fmt_ratio
from audits.science.metrics import PAPER_REFERENCE, AuditMetrics, BenchmarkMetrics, PaperFigure

COLUMNS: tuple[str, ...] = (
    "Benchmark",
    "n",
    "Acc_real",
    "Acc_shuffled",
    "Acc_blank",
    "Acc_no_image",
    "VRS",
    "IS",
    "IS_blank",
    "Blank retention",
    "Multimodal gain",
    "Claim rate",
    "HVRR",
    "P(inv|claim)",
    "McNemar p",
)
COUNT_COLUMNS = ("Benchmark", "Condition", "Ran", "Skipped", "Answered", "Unparsed", "Scored")
DELTA_COLUMNS = ("Benchmark", "Condition", "n", "Mean", "Median", "Std")
PAPER_COLUMNS = ("Metric", "Benchmark", "Model", "Value", "Note")


def metric_row(m: BenchmarkMetrics) -> list[str]:
    return [
        m.benchmark,
        str(m.n_items),
        *(fmt_rate(m.accuracy.get(c)) for c in ALL_CONDITIONS),
        fmt_diff(m.vrs),
        fmt_rate(m.image_sensitivity),
        fmt_rate(m.is_blank),
        fmt_ratio(m.blank_retention),
        fmt_diff(m.multimodal_gain),
        fmt_rate(m.visual_claim_rate),
        fmt_rate(m.hvrr),
        fmt_rate(m.p_invariant_given_claim),
        fmt_p(m.mcnemar.p_value if m.mcnemar is not None else None),
    ]


def metric_rows(metrics: AuditMetrics) -> list[list[str]]:
    """One row per benchmark, then Overall."""
    return [metric_row(m) for m in metrics.benchmarks.values()] + [metric_row(metrics.overall)]


def count_rows(metrics: AuditMetrics) -> list[list[str]]:
    rows = []
    for m in [*metrics.benchmarks.values(), metrics.overall]:
        for c in ALL_CONDITIONS:
            counts = m.conditions[c]
            rows.append(
                [
                    m.benchmark,
                    c.value,
                    str(counts.run),
                    str(counts.skipped),
                    str(counts.answered),
                    str(counts.unparsed),
                    str(counts.scored),
                ]
            )
    return rows


def delta_rows(metrics: AuditMetrics) -> list[list[str]]:
    rows = []
    for m in [*metrics.benchmarks.values(), metrics.overall]:
        for c in COUNTERFACTUALS:
            s = m.delta_logp.get(c)
            if s is not None:
                row = [m.benchmark, c.value, str(s.n), f"{s.mean:.3f}", f"{s.median:.3f}"]
                rows.append([*row, f"{s.std:.3f}"])
    return rows


def paper_value(figure: PaperFigure) -> str:
    if figure.value is not None:
        return f"{figure.value:.3g}"
    return f"{figure.low:.3g} to {figure.high:.3g}"


def paper_rows() -> list[list[str]]:
    return [[f.metric, f.benchmark, f.model, paper_value(f), f.note] for f in PAPER_REFERENCE]


def settings_line(metrics: AuditMetrics) -> str:
    level = round(100 * (1 - metrics.alpha))
    return (
        f"{level}% intervals: Wilson for rates; paired percentile bootstrap "
        f"({metrics.n_boot} resamples, seed {metrics.seed}) for VRS, blank retention and "
        "multimodal gain. VRS and multimodal gain in percentage points."
    )
