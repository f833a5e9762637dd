"""``report.md``: the core tables and any extra sections, through ``format.md_table``."""

from __future__ import annotations

from collections.abc import Sequence

from audits.reports.format import md_table
from audits.reports.sections import ReportSection
from audits.reports.tables import (
    COLUMNS,
    COUNT_COLUMNS,
    DELTA_COLUMNS,
    PAPER_COLUMNS,
    count_rows,
    delta_rows,
    further_columns,
    further_rows,
    metric_rows,
    paper_rows,
    settings_line,
)
from audits.reports.verdict import audit_verdicts, verdict_lines
from audits.science.metrics import OVERALL, AuditMetrics


def markdown_table(metrics: AuditMetrics) -> str:
    """The paper-style table: one row per benchmark plus Overall, 95% intervals in brackets."""
    return md_table(COLUMNS, metric_rows(metrics))


def markdown_section(section: ReportSection) -> list[str]:
    """The lines of one section: heading, optional note, table, and a blank line after."""
    lines = [f"## {section.title}", ""]
    if section.note:
        lines += [section.note, ""]
    return [*lines, md_table(section.header, section.rows), ""]


def markdown_report(
    metrics: AuditMetrics,
    *,
    title: str,
    generated_at: str | None = None,
    sections: Sequence[ReportSection] = (),
) -> str:
    parts = [f"# {title}", ""]
    if generated_at is not None:
        parts += [f"Generated: {generated_at}", ""]
    parts += [*verdict_lines(audit_verdicts(metrics)[OVERALL]), ""]
    parts += [
        settings_line(metrics),
        "",
        "## Grounding metrics",
        "",
        markdown_table(metrics),
        "",
        "## Counts per condition",
        "",
        md_table(COUNT_COLUMNS, count_rows(metrics)),
        "",
    ]
    parts += [
        "## Further conditions and rates",
        "",
        md_table(further_columns(), further_rows(metrics)),
        "",
    ]
    deltas = delta_rows(metrics)
    if deltas:
        parts += [
            "## delta_logp = logp_real - logp_condition",
            "",
            md_table(DELTA_COLUMNS, deltas),
            "",
        ]
    parts += [
        "## Reference figures from the seed paper (Qwen2.5-VL-7B variants)",
        "",
        md_table(PAPER_COLUMNS, paper_rows()),
        "",
    ]
    for section in sections:
        parts += markdown_section(section)
    return "\n".join(parts)
