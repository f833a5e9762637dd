"""``report.html``: one self-contained, well-formed (XHTML-compatible) page.

Inline CSS, the inline SVG plots of ``audits.reports.svg`` and base64 JPEG thumbnails; no
scripts, no network. The page opens with the verdict, then the metrics in two tables that fit a
laptop screen (every table also scrolls inside its own box as a last resort), the breakdowns
(sections with ``groups``: question type, modality) with their plots, the delta_logp
histograms, the counts, the items with hallucinated visual reasoning and the other sections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from audits.contracts.types import ALL_CONDITIONS, COUNTERFACTUALS, ItemAudit
from audits.reports.format import html_table
from audits.reports.sections import ReportSection
from audits.reports.svg import CONDITION_COLOURS, accuracy_svg, histogram_svg, sensitivity_svg
from audits.reports.tables import (
    ACCURACY_COLUMNS,
    COLUMNS,
    COUNT_COLUMNS,
    DELTA_COLUMNS,
    GROUNDING_COLUMNS,
    PAPER_COLUMNS,
    count_rows,
    delta_rows,
    further_columns,
    further_rows,
    metric_row,
    paper_rows,
    select_columns,
    settings_line,
    shown_groups,
)
from audits.reports.thumbnails import THUMB_PX, ThumbnailCache
from audits.reports.verdict import Verdict, audit_verdicts
from audits.science.metrics import OVERALL, AuditMetrics, BenchmarkMetrics

MAX_FLAGGED_ITEMS = 25
"""Flagged items listed in the open; the others follow in collapsed pages."""
FLAGGED_PAGE = 100
"""Items per collapsed page."""
MAX_FLAGGED_LISTED = 2000
"""Flagged items listed at most (all of them are in items.jsonl)."""
MAX_THUMBNAILS = 300
"""Flagged items shown with a thumbnail of their image at most (the first ones)."""

VERDICT_COLOURS = {
    "image-grounded": ("#2ca02c", "#eef8ee"),
    "partly image-grounded": ("#e6a700", "#fff8e6"),
    "image-sensitive": ("#1f77b4", "#eef4fb"),
    "image-insensitive": ("#d62728", "#fdeeee"),
    "insufficient data": ("#7f7f7f", "#f4f4f4"),
}
CSS = (
    """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px;
  color: #222222; background: #ffffff; max-width: 1500px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; } h3 { font-size: 15px; }
nav { font-size: 13px; margin: 4px 0 12px 0; } nav a { margin-right: 14px; color: #1f5fa0; }
.table-wrap { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { border: 1px solid #cccccc; padding: 4px 6px; text-align: right; }
td { white-space: nowrap; }
th { background: #f0f3f7; white-space: normal; vertical-align: bottom; min-width: 48px;
  max-width: 110px; }
td:first-child, th:first-child { text-align: left; white-space: normal; max-width: 220px;
  overflow-wrap: anywhere; }
tr.overall td { font-weight: bold; background: #fafafa; }
.note { color: #555555; font-size: 12px; max-width: 1100px; }
.plots svg { margin: 6px 12px 6px 0; border: 1px solid #eeeeee; max-width: 100%;
  height: auto; }
svg .lbl { font-size: 12px; fill: #222222; } svg .tick { font-size: 10px; fill: #555555; }
svg .na { font-size: 12px; fill: #999999; }
td.text { text-align: left; white-space: normal; max-width: 420px; min-width: 140px;
  overflow-wrap: anywhere; }
table.text td, table.text th { text-align: left; }
.ci { color: #666666; font-size: 10px; }
.verdict { border-left: 8px solid #7f7f7f; padding: 10px 16px; margin: 12px 0 8px 0;
  max-width: 1100px; }
.verdict .label { font-size: 20px; font-weight: bold; margin: 0 0 6px 0; }
.verdict .scope { font-size: 13px; font-weight: normal; color: #444444; }
.verdict ul { margin: 4px 0; padding-left: 20px; font-size: 13px; }
.verdict li.warn { color: #9c1c1c; }
img.thumb { display: block; max-width: """
    + str(THUMB_PX)
    + """px; max-height: """
    + str(THUMB_PX)
    + """px; }
details { margin: 6px 0; } summary { cursor: pointer; font-size: 13px; color: #1f5fa0; }
"""
)


def _wrap(table: str) -> str:
    """A table in its own box, which scrolls sideways if the table is ever wider than it."""
    return f'<div class="table-wrap">\n{table}\n</div>'


def html_section(section: ReportSection) -> list[str]:
    """The elements of one section: heading, optional note, plots of its groups, table."""
    out = [f"<h2>{escape(section.title)}</h2>"]
    if section.note:
        out.append(f'<p class="note">{escape(section.note)}</p>')
    if section.groups:
        out += _group_plots(list(section.groups.values()))
    return [*out, _wrap(html_table(section.header, section.rows))]


def _group_plots(groups: Sequence[BenchmarkMetrics]) -> list[str]:
    svgs = [s for s in (accuracy_svg(groups), sensitivity_svg(groups)) if s is not None]
    return ['<div class="plots">', *svgs, "</div>"] if svgs else []


def _verdict_html(verdict: Verdict) -> list[str]:
    border, background = VERDICT_COLOURS[verdict.label]
    out = [
        f'<div class="verdict" id="verdict" style="border-left-color: {border}; '
        f'background: {background};">',
        f'<p class="label">Verdict: {escape(verdict.label)} <span class="scope">'
        f"({escape(verdict.scope)}, n = {verdict.n_pairs} real/shuffled pairs)</span></p>",
        "<ul>",
        *(f"<li>{escape(reason)}</li>" for reason in verdict.reasons),
        *(f'<li class="warn">Warning: {escape(w)}</li>' for w in verdict.warnings),
        "</ul>",
        "</div>",
    ]
    return out


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _benchmark_verdicts_html(verdicts: Mapping[str, Verdict]) -> list[str]:
    rows = [
        [
            name,
            v.label,
            str(v.n_pairs),
            _pct(v.image_sensitivity),
            _pct(v.oracle_is),
            _pct(v.is_share_of_oracle),
            _pct(v.hvrr),
        ]
        for name, v in verdicts.items()
        if name != OVERALL
    ]
    if not rows:
        return []
    header = ("Benchmark", "Verdict", "Pairs", "IS", "Oracle IS", "IS / oracle", "HVRR")
    return [_wrap(html_table(header, rows, numeric=False))]


def _flagged_row(item: ItemAudit, thumb: str | None, with_image: bool) -> str:
    answers = [f"reference: {item.reference}"] if item.reference else []
    answers += [
        f"{c.value}: {item.flags.answers[c]}" for c in ALL_CONDITIONS if c in item.flags.answers
    ]
    claims = "; ".join(f"{s.text} ({s.category})" for s in item.flags.claim_spans)
    cells = []
    if with_image:
        image = (
            f'<img class="thumb" src="{thumb}" alt="image of {escape(item.id)}"/>'
            if thumb is not None
            else '<span class="note">-</span>'
        )
        cells.append(f"<td>{image}</td>")
    cells += [
        f'<td class="text">{escape(item.id)}</td>',
        f"<td>{escape(item.benchmark)}</td>",
        f'<td class="text">{escape(item.question or "")}</td>',
        f'<td class="text">{"<br/>".join(escape(a) for a in answers)}</td>',
        f'<td class="text">{escape(claims)}</td>',
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _flagged_table(
    rows: Sequence[ItemAudit],
    start: int,
    images: Mapping[str, str | Path] | None,
    thumbs: ThumbnailCache,
) -> str:
    with_image = images is not None
    head = ["Item", "Benchmark", "Question", "Answers", "Visual claims"]
    if with_image:
        head.insert(0, "Image")
    out = ['<table class="text">', "<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for offset, item in enumerate(rows):
        thumb = None
        if images is not None and start + offset < MAX_THUMBNAILS and item.id in images:
            thumb = thumbs.get(images[item.id])
        out.append(_flagged_row(item, thumb, with_image))
    out.append("</table>")
    return _wrap("\n".join(out))


def flagged_items_html(
    items: Sequence[ItemAudit], images: Mapping[str, str | Path] | None = None
) -> str:
    """Every item with hallucinated visual reasoning (up to ``MAX_FLAGGED_LISTED``): the first
    ``MAX_FLAGGED_ITEMS`` in the open, the rest in collapsed pages; with ``images`` (item id ->
    image path) a small thumbnail of each of the first ``MAX_THUMBNAILS`` items' image."""
    flagged = [i for i in items if i.flags.hvr]
    if not flagged:
        return '<p class="note">No item combined visual claims with an image-invariant answer.</p>'
    listed = flagged[:MAX_FLAGGED_LISTED]
    note = (
        f"{len(flagged)} item(s) combined visual claims with an answer that did not change "
        "when the image was swapped, blanked or removed"
    )
    if len(listed) < len(flagged):
        note += f"; the first {len(listed)} are listed (items.jsonl holds all)"
    if images is not None:
        shown = min(len(listed), MAX_THUMBNAILS)
        note += f"; thumbnails ({THUMB_PX} px) of the first {shown} item(s)' images"
    thumbs = ThumbnailCache()
    out = [
        f'<p class="note">{escape(note)}.</p>',
        _flagged_table(listed[:MAX_FLAGGED_ITEMS], 0, images, thumbs),
    ]
    for start in range(MAX_FLAGGED_ITEMS, len(listed), FLAGGED_PAGE):
        page = listed[start : start + FLAGGED_PAGE]
        out += [
            "<details>",
            f"<summary>Items {start + 1} to {start + len(page)} of {len(listed)}</summary>",
            _flagged_table(page, start, images, thumbs),
            "</details>",
        ]
    return "\n".join(out)


GLOSSARY = (
    "VRS = Acc_real - Acc_shuffled; multimodal gain = Acc_real - Acc_no_image; blank "
    "retention = Acc_blank / Acc_real. IS: share of items whose answer changed when the image "
    "was swapped for another case's; Oracle IS: share whose correct answer changes (a fully "
    "grounded model's IS); IS_blank: the same with a blank image. Claim rate: outputs with "
    "visual claims; HVRR: outputs with visual claims whose answer did not change with the "
    "image (should change: among items whose correct answer changes); P(inv|claim): answer "
    "unchanged given a visual claim; McNemar p: real vs shuffled correctness."
)


def html_report(
    metrics: AuditMetrics,
    *,
    title: str,
    items: Sequence[ItemAudit] | None = None,
    generated_at: str | None = None,
    sections: Sequence[ReportSection] = (),
    images: Mapping[str, str | Path] | None = None,
) -> str:
    """A self-contained, well-formed (XHTML-compatible) HTML page.

    ``images`` (item id -> image path) adds thumbnails to the flagged items' list.
    """
    breakdowns = [s for s in sections if s.groups]
    others = [s for s in sections if not s.groups]
    links = [("verdict", "Verdict"), ("metrics", "Metrics"), ("plots", "Plots")]
    links += [(f"breakdown-{i}", s.title) for i, s in enumerate(breakdowns)]
    links += [("delta-logp", "delta_logp")]
    if items is not None:
        links.append(("flagged", "Hallucinated reasoning"))
    body: list[str] = [f"<h1>{escape(title)}</h1>"]
    if generated_at is not None:
        body.append(f'<p class="note">Generated: {escape(generated_at)}</p>')
    body.append("<nav>" + "".join(f'<a href="#{k}">{escape(t)}</a>' for k, t in links) + "</nav>")
    verdicts = audit_verdicts(metrics)
    body += _verdict_html(verdicts[OVERALL])
    body += _benchmark_verdicts_html(verdicts)
    body.append(f'<p class="note">{escape(settings_line(metrics))}</p>')

    groups = shown_groups(metrics)
    single = len(groups) == 1 and groups[0] is not metrics.overall
    rows = [metric_row(m) for m in (groups or [metrics.overall])]
    overall_last = not single and bool(metrics.benchmarks)
    body.append('<h2 id="metrics">Grounding metrics</h2>')
    if single:
        body.append(
            f'<p class="note">One benchmark ({escape(groups[0].benchmark)}): its row is also '
            "the Overall figure.</p>"
        )
    body += [
        "<h3>Accuracy per condition</h3>",
        _wrap(
            html_table(
                ACCURACY_COLUMNS,
                select_columns(rows, ACCURACY_COLUMNS, COLUMNS),
                overall_last=overall_last,
            )
        ),
        "<h3>Image sensitivity and visual claims</h3>",
        _wrap(
            html_table(
                GROUNDING_COLUMNS,
                select_columns(rows, GROUNDING_COLUMNS, COLUMNS),
                overall_last=overall_last,
            )
        ),
        f'<p class="note">{escape(GLOSSARY)}</p>',
        '<h2 id="plots">Plots</h2>',
        '<div class="plots">',
    ]
    plot_groups = groups or [metrics.overall]
    accuracy = accuracy_svg(plot_groups)
    if accuracy is None:
        body.append('<p class="note">No reference answers: accuracy cannot be plotted.</p>')
    for svg in (accuracy, sensitivity_svg(plot_groups)):
        if svg is not None:
            body.append(svg)
    body.append("</div>")
    for i, section in enumerate(breakdowns):
        first, *rest = html_section(section)
        body += [first.replace("<h2>", f'<h2 id="breakdown-{i}">', 1), *rest]
    panels = [
        histogram_svg(s, label=f"delta_logp ({c.value})", colour=CONDITION_COLOURS[c])
        for c in COUNTERFACTUALS
        if (s := metrics.overall.delta_logp.get(c)) is not None
    ]
    body.append('<h2 id="delta-logp">delta_logp = logp_real - logp_condition (all items)</h2>')
    if panels:
        body += ['<div class="plots">', *panels, "</div>"]
    else:
        body.append('<p class="note">No score-mode log-probabilities in this audit.</p>')
    body += [
        "<h2>Counts per condition</h2>",
        _wrap(html_table(COUNT_COLUMNS, count_rows(metrics, plot_groups))),
    ]
    body += [
        "<h2>Further conditions and rates</h2>",
        _wrap(html_table(further_columns(), further_rows(metrics, plot_groups))),
    ]
    deltas = delta_rows(metrics, plot_groups)
    if deltas:
        body += ["<h2>delta_logp summary</h2>", _wrap(html_table(DELTA_COLUMNS, deltas))]
    if items is not None:
        body += [
            '<h2 id="flagged">Items with hallucinated visual reasoning</h2>',
            flagged_items_html(items, images),
        ]
    body += [
        "<h2>Reference figures from the seed paper (Qwen2.5-VL-7B variants)</h2>",
        _wrap(html_table(PAPER_COLUMNS, paper_rows(), numeric=False)),
    ]
    for section in others:
        body += html_section(section)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">',
            "<head>",
            '<meta charset="utf-8"/>',
            '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
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
