"""The core report's tables as data: column names and formatted rows, from ``AuditMetrics``."""

from __future__ import annotations

from collections.abc import Sequence

from audits.contracts.types import COUNTERFACTUALS, Condition
from audits.reports.format import NA, fmt_diff, fmt_p, fmt_rate, fmt_ratio
from audits.reports.paper import PAPER_REFERENCE, PaperFigure
from audits.reports.sections import ReportSection
from audits.science.conditions import default_conditions, registered
from audits.science.estimates import Diff, Ratio
from audits.science.metrics import AuditMetrics, BenchmarkMetrics
from audits.science.rates import ItemRate, item_rates

_KEY = ("Benchmark", "n")
_PAPER_CONDITIONS = (Condition.REAL, *default_conditions())
"""The conditions of the paper-style table; the others are in the further-rates table."""
_ACCURACIES = tuple(f"Acc_{c.value}" for c in _PAPER_CONDITIONS)
_HALLUCINATION = ("HVRR", "HVRR (should change)", "P(inv|claim)", "McNemar p")
COLUMNS: tuple[str, ...] = (
    *_KEY,
    *_ACCURACIES,
    "VRS",
    "IS",
    "Oracle IS",
    "Unparsed real/shuf",
    "IS_blank",
    "Blank retention",
    "Multimodal gain",
    "Claim rate",
    *_HALLUCINATION,
)
"""The paper-style table (report.md), one row per benchmark plus Overall."""
ACCURACY_COLUMNS = (*_KEY, *_ACCURACIES, "VRS", "Multimodal gain", "Blank retention")
"""The HTML report's first half of ``COLUMNS``: what the model got right under each condition."""
GROUNDING_COLUMNS = (
    *_KEY,
    *("IS", "Oracle IS", "Unparsed real/shuf", "IS_blank", "Claim rate"),
    *_HALLUCINATION,
)
"""The second half: whether answers follow the image, and visual claims that do not."""
COUNT_COLUMNS = ("Benchmark", "Condition", "Ran", "Skipped", "Answered", "Unparsed", "Scored")
DELTA_COLUMNS = ("Benchmark", "Condition", "n", "Mean", "Median", "Std")
PAPER_COLUMNS = ("Metric", "Benchmark", "Model", "Value", "Note")


def metric_row(m: BenchmarkMetrics) -> list[str]:
    return [
        m.benchmark,
        str(m.n_items),
        *(fmt_rate(m.accuracy.get(c)) for c in _PAPER_CONDITIONS),
        fmt_diff(m.vrs),
        fmt_rate(m.image_sensitivity),
        fmt_rate(m.oracle_is),
        f"{m.conditions[Condition.REAL].unparsed}/{m.conditions[Condition.SHUFFLED].unparsed}",
        fmt_rate(m.is_blank),
        fmt_ratio(m.blank_retention),
        fmt_diff(m.multimodal_gain),
        fmt_rate(m.visual_claim_rate),
        fmt_rate(m.hvrr),
        fmt_rate(m.hvrr_should_change),
        fmt_rate(m.p_invariant_given_claim),
        fmt_p(m.mcnemar.p_value if m.mcnemar is not None else None),
    ]


def metric_rows(metrics: AuditMetrics) -> list[list[str]]:
    """One row per benchmark, then Overall."""
    return [metric_row(m) for m in metrics.benchmarks.values()] + [metric_row(metrics.overall)]


def shown_groups(metrics: AuditMetrics) -> list[BenchmarkMetrics]:
    """The rows of the HTML report's tables and plots: every benchmark, then Overall; a single
    benchmark once (Overall would repeat it)."""
    benchmarks = list(metrics.benchmarks.values())
    return benchmarks if len(benchmarks) == 1 else [*benchmarks, metrics.overall]


def select_columns(
    rows: Sequence[Sequence[str]], columns: Sequence[str], header: Sequence[str] = COLUMNS
) -> list[list[str]]:
    """The cells of ``rows`` (laid out as ``header``) under ``columns``, in that order."""
    index = [header.index(c) for c in columns]
    return [[row[i] for i in index] for row in rows]


def count_rows(
    metrics: AuditMetrics, groups: Sequence[BenchmarkMetrics] | None = None
) -> list[list[str]]:
    rows = []
    for m in groups if groups is not None else [*metrics.benchmarks.values(), metrics.overall]:
        for c, counts in m.conditions.items():
            if c not in _PAPER_CONDITIONS and not (counts.run or counts.skipped):
                continue
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


def delta_rows(
    metrics: AuditMetrics, groups: Sequence[BenchmarkMetrics] | None = None
) -> list[list[str]]:
    rows = []
    for m in groups if groups is not None else [*metrics.benchmarks.values(), metrics.overall]:
        for c in COUNTERFACTUALS:
            s = m.delta_logp.get(c)
            if s is not None:
                row = [m.benchmark, c.value, str(s.n), f"{s.mean:.3f}", f"{s.median:.3f}"]
                rows.append([*row, f"{s.std:.3f}"])
    return rows


_PAPER_RATES = frozenset(
    (
        "image_sensitivity",
        "oracle_is",
        "is_blank",
        "visual_claim_rate",
        "hvrr",
        "hvrr_should_change",
        "p_invariant_given_claim",
    )
)


def _further_conditions() -> tuple[Condition, ...]:
    return tuple(d.condition for d in registered() if d.condition not in _PAPER_CONDITIONS)


def _further_rates() -> tuple[ItemRate, ...]:
    return tuple(rate for rate in item_rates() if rate.name not in _PAPER_RATES)


def further_columns() -> tuple[str, ...]:
    """Every registered condition and rate the paper-style table leaves out (``flipped``,
    laterality consistency...): a new condition or rate shows here without a change."""
    return (
        *_KEY,
        *(f"Acc_{c.value}" for c in _further_conditions()),
        *(rate.label for rate in _further_rates()),
    )


def further_rows(
    metrics: AuditMetrics, groups: Sequence[BenchmarkMetrics] | None = None
) -> list[list[str]]:
    return [
        [
            m.benchmark,
            str(m.n_items),
            *(fmt_rate(m.accuracy.get(c)) for c in _further_conditions()),
            *(fmt_rate(m.rate(rate.name)) for rate in _further_rates()),
        ]
        for m in (groups if groups is not None else [*metrics.benchmarks.values(), metrics.overall])
    ]


def paper_value(figure: PaperFigure) -> str:
    if figure.value is not None:
        return f"{figure.value:.3g}"
    return f"{figure.low:.3g} to {figure.high:.3g}"


def paper_rows() -> list[list[str]]:
    return [[f.metric, f.benchmark, f.model, paper_value(f), f.note] for f in PAPER_REFERENCE]


PAIRED_COLUMNS = ("Benchmark", "Figure", "Paired n", "First", "Second", "Value [95% CI]", "Method")


def _paired_row(
    benchmark: str, figure: str, value: Diff | Ratio | None, formatted: str
) -> list[str] | None:
    if value is None:
        return None
    return [
        benchmark,
        figure,
        str(value.n),
        fmt_rate(value.first),
        fmt_rate(value.second),
        formatted,
        value.method,
    ]


def paired_section(metrics: AuditMetrics) -> ReportSection:
    """Every difference beside the paired n and the paired accuracies it is computed from (the
    unpaired accuracy columns may cover other items), and the McNemar counts."""
    rows: list[list[str]] = []
    for m in [*metrics.benchmarks.values(), metrics.overall]:
        candidates = (
            _paired_row(m.benchmark, "VRS = Acc_real - Acc_shuffled", m.vrs, fmt_diff(m.vrs)),
            _paired_row(
                m.benchmark,
                "Multimodal gain = Acc_real - Acc_no_image",
                m.multimodal_gain,
                fmt_diff(m.multimodal_gain),
            ),
            _paired_row(
                m.benchmark,
                "Blank retention = Acc_blank / Acc_real",
                m.blank_retention,
                fmt_ratio(m.blank_retention),
            ),
        )
        rows += [row for row in candidates if row is not None]
        if m.mcnemar is not None:
            mc = m.mcnemar
            rows.append(
                [
                    m.benchmark,
                    f"McNemar real vs shuffled (b={mc.b}, c={mc.c})",
                    str(mc.n),
                    NA,
                    NA,
                    f"p = {fmt_p(mc.p_value)}",
                    mc.method,
                ]
            )
    return ReportSection(
        title="Paired differences",
        header=PAIRED_COLUMNS,
        rows=tuple(tuple(r) for r in rows),
        note=(
            "First and Second are the two accuracies on the paired items only. b: correct with "
            "the real image only; c: correct with the shuffled image only."
        ),
    )


def settings_line(metrics: AuditMetrics) -> str:
    level = round(100 * (1 - metrics.alpha))
    thresholds = metrics.thresholds
    return (
        f"{level}% intervals: {metrics.methods['rates']} for rates; "
        f"{metrics.methods['differences']} for VRS and multimodal gain (percentage points); "
        f"{metrics.methods['blank_retention']} for blank retention; "
        f"McNemar: {metrics.methods['mcnemar']}. Open answers: correct at reference-token "
        f"recall >= {thresholds['open_recall']:.2f}; a flip at token-F1 < "
        f"{thresholds['open_flip_f1']:.2f}. <unparsed> answers are counted beside IS and never "
        "counted as flips. Oracle IS: the share of shuffled pairs whose reference answers "
        "differ (a perfectly grounded model's IS)."
    )
