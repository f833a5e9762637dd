"""``report.html``: one self-contained, well-formed (XHTML-compatible) page.

Inline CSS and the inline SVG plots of ``audits.reports.svg``; no scripts, no network. Tables go
through ``format.html_table``; extra sections are rendered after the core ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from audits.contracts.types import ALL_CONDITIONS, COUNTERFACTUALS, ItemAudit
from audits.reports.format import html_table
from audits.reports.sections import ReportSection
from audits.reports.svg import CONDITION_COLOURS, accuracy_svg, histogram_svg, sensitivity_svg
from audits.reports.tables import (
    COLUMNS,
    COUNT_COLUMNS,
    DELTA_COLUMNS,
    PAPER_COLUMNS,
    count_rows,
    delta_rows,
    metric_rows,
    paper_rows,
    settings_line,
)
from audits.science.metrics import AuditMetrics

MAX_FLAGGED_ITEMS = 25
CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px;
  color: #222222; background: #ffffff; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { border: 1px solid #cccccc; padding: 4px 6px; text-align: right; white-space: nowrap; }
th { background: #f0f3f7; } td:first-child, th:first-child { text-align: left; }
tr.overall td { font-weight: bold; background: #fafafa; }
.note { color: #555555; font-size: 12px; }
.plots svg { margin: 6px 12px 6px 0; border: 1px solid #eeeeee; }
svg .lbl { font-size: 12px; fill: #222222; } svg .tick { font-size: 10px; fill: #555555; }
svg .na { font-size: 12px; fill: #999999; }
td.text { text-align: left; white-space: normal; max-width: 520px; }
table.text td, table.text th { text-align: left; }
.ci { color: #666666; font-size: 10px; }
"""


def html_section(section: ReportSection) -> list[str]:
    """The elements of one section: heading, optional note, table."""
    out = [f"<h2>{escape(section.title)}</h2>"]
    if section.note:
        out.append(f'<p class="note">{escape(section.note)}</p>')
    return [*out, html_table(section.header, section.rows)]


def _flagged_items_html(items: Sequence[ItemAudit]) -> str:
    flagged = [i for i in items if i.flags.hvr]
    if not flagged:
        return '<p class="note">No item combined visual claims with an image-invariant answer.</p>'
    shown = flagged[:MAX_FLAGGED_ITEMS]
    out = [
        f'<p class="note">{len(flagged)} item(s) with hallucinated visual reasoning; '
        f"the first {len(shown)} are listed.</p>",
        "<table>",
        "<tr><th>Item</th><th>Benchmark</th><th>Answers</th><th>Visual claims</th></tr>",
    ]
    for item in shown:
        answers = ", ".join(
            f"{c.value}: {item.flags.answers[c]}" for c in ALL_CONDITIONS if c in item.flags.answers
        )
        claims = "; ".join(f"{s.text} ({s.category})" for s in item.flags.claim_spans)
        out.append(
            f"<tr><td>{escape(item.id)}</td><td>{escape(item.benchmark)}</td>"
            f'<td class="text">{escape(answers)}</td><td class="text">{escape(claims)}</td></tr>'
        )
    out.append("</table>")
    return "\n".join(out)


def html_report(
    metrics: AuditMetrics,
    *,
    title: str,
    items: Sequence[ItemAudit] | None = None,
    generated_at: str | None = None,
    sections: Sequence[ReportSection] = (),
) -> str:
    """A self-contained, well-formed (XHTML-compatible) HTML page."""
    body: list[str] = [f"<h1>{escape(title)}</h1>"]
    if generated_at is not None:
        body.append(f'<p class="note">Generated: {escape(generated_at)}</p>')
    body.append(f'<p class="note">{escape(settings_line(metrics))}</p>')
    body += [
        "<h2>Grounding metrics</h2>",
        html_table(COLUMNS, metric_rows(metrics), overall_last=True),
        "<h2>Plots</h2>",
        '<div class="plots">',
    ]
    accuracy = accuracy_svg(metrics)
    if accuracy is None:
        body.append('<p class="note">No reference answers: accuracy cannot be plotted.</p>')
    for svg in (accuracy, sensitivity_svg(metrics)):
        if svg is not None:
            body.append(svg)
    body.append("</div>")
    panels = [
        histogram_svg(s, label=f"delta_logp ({c.value})", colour=CONDITION_COLOURS[c])
        for c in COUNTERFACTUALS
        if (s := metrics.overall.delta_logp.get(c)) is not None
    ]
    body.append("<h2>delta_logp = logp_real - logp_condition (all items)</h2>")
    if panels:
        body += ['<div class="plots">', *panels, "</div>"]
    else:
        body.append('<p class="note">No score-mode log-probabilities in this audit.</p>')
    body += [
        "<h2>Counts per condition</h2>",
        html_table(COUNT_COLUMNS, count_rows(metrics)),
    ]
    deltas = delta_rows(metrics)
    if deltas:
        body += ["<h2>delta_logp summary</h2>", html_table(DELTA_COLUMNS, deltas)]
    if items is not None:
        body += ["<h2>Items with hallucinated visual reasoning</h2>", _flagged_items_html(items)]
    body += [
        "<h2>Reference figures from the seed paper (Qwen2.5-VL-7B variants)</h2>",
        html_table(PAPER_COLUMNS, paper_rows(), numeric=False),
    ]
    for section in sections:
        body += html_section(section)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">',
            "<head>",
            '<meta charset="utf-8"/>',
            f"<title>{escape(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )
