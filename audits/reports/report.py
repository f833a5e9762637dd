"""Audit reports: ``report.json`` (machine), ``report.md`` and a self-contained ``report.html``.

The HTML has inline CSS and inline SVG plots drawn here (no plotting library, no scripts, no
network). Output is a pure function of its inputs: the same metrics give byte-identical files,
so a resumed run can be diffed against an uninterrupted one. Nothing time-dependent is written
unless ``generated_at`` is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path

from audits.contracts.types import ALL_CONDITIONS, COUNTERFACTUALS, Condition, ItemAudit
from audits.science.metrics import (
    PAPER_REFERENCE,
    AuditMetrics,
    BenchmarkMetrics,
    DeltaLogpSummary,
    Diff,
    PaperFigure,
    Rate,
    Ratio,
)

NA = "n/a"
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
CONDITION_COLOURS: dict[Condition, str] = {
    Condition.REAL: "#1f77b4",
    Condition.SHUFFLED: "#d62728",
    Condition.BLANK: "#7f7f7f",
    Condition.NO_IMAGE: "#ff7f0e",
}
MAX_FLAGGED_ITEMS = 25


# --- cell formatting ------------------------------------------------------------------------


def fmt_rate(rate: Rate | None) -> str:
    if rate is None:
        return NA
    return f"{100 * rate.value:.1f}% [{100 * rate.lo:.1f}, {100 * rate.hi:.1f}]"


def fmt_diff(diff: Diff | None) -> str:
    """A difference of two rates, in percentage points."""
    if diff is None:
        return NA
    return f"{100 * diff.value:+.1f} pp [{100 * diff.lo:+.1f}, {100 * diff.hi:+.1f}]"


def fmt_ratio(ratio: Ratio | None) -> str:
    if ratio is None:
        return NA
    return f"{ratio.value:.2f} [{ratio.lo:.2f}, {ratio.hi:.2f}]"


def fmt_p(p: float | None) -> str:
    if p is None:
        return NA
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _row(m: BenchmarkMetrics) -> list[str]:
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


def _rows(metrics: AuditMetrics) -> list[list[str]]:
    return [_row(m) for m in metrics.benchmarks.values()] + [_row(metrics.overall)]


def _paper_value(figure: PaperFigure) -> str:
    if figure.value is not None:
        return f"{figure.value:.3g}"
    return f"{figure.low:.3g} to {figure.high:.3g}"


# --- Markdown -------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *(line(r) for r in rows)])


def markdown_table(metrics: AuditMetrics) -> str:
    """The paper-style table: one row per benchmark plus Overall, 95% intervals in brackets."""
    return _md_table(COLUMNS, _rows(metrics))


def _count_rows(metrics: AuditMetrics) -> list[list[str]]:
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


COUNT_COLUMNS = ("Benchmark", "Condition", "Ran", "Skipped", "Answered", "Unparsed", "Scored")


def _delta_rows(metrics: AuditMetrics) -> list[list[str]]:
    rows = []
    for m in [*metrics.benchmarks.values(), metrics.overall]:
        for c in COUNTERFACTUALS:
            s = m.delta_logp.get(c)
            if s is not None:
                row = [m.benchmark, c.value, str(s.n), f"{s.mean:.3f}", f"{s.median:.3f}"]
                rows.append([*row, f"{s.std:.3f}"])
    return rows


DELTA_COLUMNS = ("Benchmark", "Condition", "n", "Mean", "Median", "Std")
PAPER_COLUMNS = ("Metric", "Benchmark", "Model", "Value", "Note")


def _paper_rows() -> list[list[str]]:
    return [[f.metric, f.benchmark, f.model, _paper_value(f), f.note] for f in PAPER_REFERENCE]


def _settings_line(metrics: AuditMetrics) -> str:
    level = round(100 * (1 - metrics.alpha))
    return (
        f"{level}% intervals: Wilson for rates; paired percentile bootstrap "
        f"({metrics.n_boot} resamples, seed {metrics.seed}) for VRS, blank retention and "
        "multimodal gain. VRS and multimodal gain in percentage points."
    )


def markdown_report(metrics: AuditMetrics, *, title: str, generated_at: str | None = None) -> str:
    parts = [f"# {title}", ""]
    if generated_at is not None:
        parts += [f"Generated: {generated_at}", ""]
    parts += [
        _settings_line(metrics),
        "",
        "## Grounding metrics",
        "",
        markdown_table(metrics),
        "",
        "## Counts per condition",
        "",
        _md_table(COUNT_COLUMNS, _count_rows(metrics)),
        "",
    ]
    delta_rows = _delta_rows(metrics)
    if delta_rows:
        parts += [
            "## delta_logp = logp_real - logp_condition",
            "",
            _md_table(DELTA_COLUMNS, delta_rows),
            "",
        ]
    parts += [
        "## Reference figures from the seed paper (Qwen2.5-VL-7B variants)",
        "",
        _md_table(PAPER_COLUMNS, _paper_rows()),
        "",
    ]
    return "\n".join(parts)


# --- SVG ------------------------------------------------------------------------------------

Interval = tuple[float, float, float]


def _num(x: float) -> str:
    text = f"{x:.1f}"
    return "0.0" if text == "-0.0" else text


def _svg_open(width: float, height: float, label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" role="img" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
        f'<rect x="0" y="0" width="{_num(width)}" height="{_num(height)}" fill="#ffffff"/>',
    ]


def _legend_width(series: Sequence[tuple[str, str]]) -> float:
    return sum(_legend_step(name) for name, _ in series)


def _legend_step(name: str) -> float:
    return 17.0 + 7.0 * len(name) + 18.0


def _legend(series: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    out = []
    for name, colour in series:
        out.append(
            f'<rect x="{_num(x)}" y="{_num(y - 10)}" width="12" height="12" fill="{colour}"/>'
        )
        out.append(f'<text x="{_num(x + 17)}" y="{_num(y)}" class="lbl">{escape(name)}</text>')
        x += _legend_step(name)
    return out


def bar_chart_svg(
    groups: Sequence[str],
    series: Sequence[tuple[str, str]],
    values: dict[tuple[str, str], Interval | None],
    *,
    label: str,
) -> str:
    """Grouped bars of proportions in [0, 1] with interval whiskers; missing values marked."""
    left, top, bottom, right = 56.0, 34.0, 48.0, 16.0
    plot_h = 220.0
    bar_w = 18.0
    group_w = bar_w * len(series) + 26.0
    width = left + right + max(max(1, len(groups)) * group_w, _legend_width(series))
    height = top + plot_h + bottom
    out = _svg_open(width, height, label)
    out += _legend(series, left, 18.0)

    def y_of(v: float) -> float:
        return top + plot_h * (1 - min(1.0, max(0.0, v)))

    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = y_of(tick)
        out.append(
            f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(width - right)}" y2="{_num(y)}" '
            'stroke="#dddddd"/>'
        )
        out.append(
            f'<text x="{_num(left - 6)}" y="{_num(y + 4)}" class="tick" text-anchor="end">'
            f"{round(100 * tick)}%</text>"
        )
    for gi, group in enumerate(groups):
        gx = left + gi * group_w + 13.0
        for si, (name, colour) in enumerate(series):
            x = gx + si * bar_w
            value = values.get((group, name))
            if value is None:
                out.append(
                    f'<text x="{_num(x + bar_w / 2)}" y="{_num(y_of(0) - 4)}" class="na" '
                    'text-anchor="middle">-</text>'
                )
                continue
            v, lo, hi = value
            y = y_of(v)
            tip = f"{group} {name}: {100 * v:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"
            out.append(
                f'<rect x="{_num(x + 1)}" y="{_num(y)}" width="{_num(bar_w - 2)}" '
                f'height="{_num(y_of(0) - y)}" fill="{colour}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            cx = x + bar_w / 2
            out.append(
                f'<line x1="{_num(cx)}" y1="{_num(y_of(lo))}" x2="{_num(cx)}" '
                f'y2="{_num(y_of(hi))}" stroke="#222222" stroke-width="1.2"/>'
            )
            for end in (lo, hi):
                out.append(
                    f'<line x1="{_num(cx - 4)}" y1="{_num(y_of(end))}" x2="{_num(cx + 4)}" '
                    f'y2="{_num(y_of(end))}" stroke="#222222" stroke-width="1.2"/>'
                )
        out.append(
            f'<text x="{_num(gx + bar_w * len(series) / 2)}" y="{_num(top + plot_h + 18)}" '
            f'class="lbl" text-anchor="middle">{escape(group)}</text>'
        )
    out.append(
        f'<line x1="{_num(left)}" y1="{_num(y_of(0))}" x2="{_num(width - right)}" '
        f'y2="{_num(y_of(0))}" stroke="#333333"/>'
    )
    out.append("</svg>")
    return "\n".join(out)


def histogram_svg(summary: DeltaLogpSummary, *, label: str, colour: str) -> str:
    """One histogram panel from the precomputed bins of a delta_logp summary."""
    left, top, bottom, right = 44.0, 28.0, 40.0, 12.0
    plot_w, plot_h = 300.0, 150.0
    width, height = left + plot_w + right, top + plot_h + bottom
    out = _svg_open(width, height, label)
    out.append(f'<text x="{_num(left)}" y="16" class="lbl">{escape(label)}</text>')
    counts = summary.hist_counts
    peak = max(counts) if counts and max(counts) > 0 else 1
    lo_edge, hi_edge = summary.hist_edges[0], summary.hist_edges[-1]
    span = hi_edge - lo_edge or 1.0

    def x_of(v: float) -> float:
        return left + plot_w * (v - lo_edge) / span

    for i, count in enumerate(counts):
        x0, x1 = x_of(summary.hist_edges[i]), x_of(summary.hist_edges[i + 1])
        h = plot_h * count / peak
        tip = f"[{summary.hist_edges[i]:.2f}, {summary.hist_edges[i + 1]:.2f}): {count}"
        out.append(
            f'<rect x="{_num(x0)}" y="{_num(top + plot_h - h)}" '
            f'width="{_num(max(0.5, x1 - x0 - 1))}" height="{_num(h)}" fill="{colour}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    if lo_edge < 0 < hi_edge:
        x0 = x_of(0.0)
        out.append(
            f'<line x1="{_num(x0)}" y1="{_num(top)}" x2="{_num(x0)}" y2="{_num(top + plot_h)}" '
            'stroke="#222222" stroke-dasharray="4 3"/>'
        )
    base = top + plot_h
    out.append(
        f'<line x1="{_num(left)}" y1="{_num(base)}" x2="{_num(left + plot_w)}" y2="{_num(base)}" '
        'stroke="#333333"/>'
    )
    for value, anchor in ((lo_edge, "start"), (hi_edge, "end")):
        out.append(
            f'<text x="{_num(x_of(value))}" y="{_num(base + 16)}" class="tick" '
            f'text-anchor="{anchor}">{value:.2f}</text>'
        )
    out.append(
        f'<text x="{_num(left - 6)}" y="{_num(top + 8)}" class="tick" '
        f'text-anchor="end">{peak}</text>'
    )
    out.append(
        f'<text x="{_num(left + plot_w / 2)}" y="{_num(base + 32)}" class="tick" '
        f'text-anchor="middle">n={summary.n}, median {summary.median:.2f} nats</text>'
    )
    out.append("</svg>")
    return "\n".join(out)


def _interval(rate: Rate | None) -> Interval | None:
    return None if rate is None else (rate.value, rate.lo, rate.hi)


def _groups(metrics: AuditMetrics) -> list[BenchmarkMetrics]:
    return [*metrics.benchmarks.values(), metrics.overall]


def accuracy_svg(metrics: AuditMetrics) -> str | None:
    groups = _groups(metrics)
    values = {
        (m.benchmark, c.value): _interval(m.accuracy.get(c)) for m in groups for c in ALL_CONDITIONS
    }
    if all(v is None for v in values.values()):
        return None
    return bar_chart_svg(
        [m.benchmark for m in groups],
        [(c.value, CONDITION_COLOURS[c]) for c in ALL_CONDITIONS],
        values,
        label="Accuracy per condition",
    )


def sensitivity_svg(metrics: AuditMetrics) -> str | None:
    groups = _groups(metrics)
    series = [("IS", "#d62728"), ("IS_blank", "#7f7f7f"), ("HVRR", "#9467bd")]
    values: dict[tuple[str, str], Interval | None] = {}
    for m in groups:
        values[(m.benchmark, "IS")] = _interval(m.image_sensitivity)
        values[(m.benchmark, "IS_blank")] = _interval(m.is_blank)
        values[(m.benchmark, "HVRR")] = _interval(m.hvrr)
    if all(v is None for v in values.values()):
        return None
    return bar_chart_svg(
        [m.benchmark for m in groups], series, values, label="Image sensitivity and HVRR"
    )


# --- HTML -----------------------------------------------------------------------------------

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


def _cell(text: str) -> str:
    """A metric cell: the estimate, and its interval on a second, smaller line."""
    value, sep, interval = text.partition(" [")
    if not sep:
        return escape(text)
    return f'{escape(value)}<br/><span class="ci">[{escape(interval)}</span>'


def _html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    overall_last: bool = False,
    numeric: bool = True,
) -> str:
    table_cls = "" if numeric else ' class="text"'
    out = [
        f"<table{table_cls}>",
        "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>",
    ]
    for i, row in enumerate(rows):
        cls = ' class="overall"' if overall_last and i == len(rows) - 1 else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


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
) -> str:
    """A self-contained, well-formed (XHTML-compatible) HTML page."""
    body: list[str] = [f"<h1>{escape(title)}</h1>"]
    if generated_at is not None:
        body.append(f'<p class="note">Generated: {escape(generated_at)}</p>')
    body.append(f'<p class="note">{escape(_settings_line(metrics))}</p>')
    body += [
        "<h2>Grounding metrics</h2>",
        _html_table(COLUMNS, _rows(metrics), overall_last=True),
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
        _html_table(COUNT_COLUMNS, _count_rows(metrics)),
    ]
    delta_rows = _delta_rows(metrics)
    if delta_rows:
        body += ["<h2>delta_logp summary</h2>", _html_table(DELTA_COLUMNS, delta_rows)]
    if items is not None:
        body += ["<h2>Items with hallucinated visual reasoning</h2>", _flagged_items_html(items)]
    body += [
        "<h2>Reference figures from the seed paper (Qwen2.5-VL-7B variants)</h2>",
        _html_table(PAPER_COLUMNS, _paper_rows(), numeric=False),
    ]
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


# --- files ----------------------------------------------------------------------------------


def report_json(
    metrics: AuditMetrics, *, title: str, generated_at: str | None = None
) -> dict[str, object]:
    document: dict[str, object] = {"title": title}
    if generated_at is not None:
        document["generated_at"] = generated_at
    document["metrics"] = metrics.model_dump(mode="json")
    document["paper_reference"] = [f.model_dump(mode="json") for f in PAPER_REFERENCE]
    return document


def write_reports(
    metrics: AuditMetrics,
    out_dir: Path,
    *,
    title: str,
    items: Sequence[ItemAudit] | None = None,
    generated_at: str | None = None,
) -> dict[str, Path]:
    """Write report.json, report.md, report.html (and items.jsonl when ``items`` are given).

    Returns the written paths keyed by "json", "md", "html" (and "items").
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "md": out_dir / "report.md",
        "html": out_dir / "report.html",
    }
    document = report_json(metrics, title=title, generated_at=generated_at)
    paths["json"].write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    paths["md"].write_text(
        markdown_report(metrics, title=title, generated_at=generated_at), encoding="utf-8"
    )
    paths["html"].write_text(
        html_report(metrics, title=title, items=items, generated_at=generated_at),
        encoding="utf-8",
    )
    if items is not None:
        paths["items"] = out_dir / "items.jsonl"
        with paths["items"].open("w", encoding="utf-8") as fh:
            for item in items:
                fh.write(item.model_dump_json() + "\n")
    return paths
