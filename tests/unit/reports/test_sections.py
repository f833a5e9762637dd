"""Report sections and the shared table helpers: one Markdown and one HTML rendering of a table."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from audits.reports.format import html_table, md_table
from audits.reports.html import html_section
from audits.reports.markdown import markdown_section, markdown_table
from audits.reports.sections import ReportSection
from audits.reports.svg import bar_chart_svg
from audits.reports.writer import write_reports
from audits.science.metrics import compute_metrics
from tests.unit.reports.test_report import R, S, item

SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"
SECTION = ReportSection(
    title="Extra <numbers>",
    header=("Benchmark", "n", "Rate", "Delta"),
    rows=(
        ("a|b", "3", "48.2% [40.0, 55.0]", "-9.0 pp [-15.0, -2.0]"),
        ("Overall", "5", "n/a", "0.333"),
    ),
    note="A note & more.",
    key="extra",
    data={"Overall": {"k": 1}},
)


def _md_cells(line: str) -> list[str]:
    """Cells of one Markdown table line: split on ``|`` not escaped, then unescape."""
    inner = line.strip()[1:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def _html_cells(row: ET.Element) -> list[str]:
    return [" ".join(t for t in cell.itertext()) for cell in row]


def test_a_pipe_in_a_benchmark_name_is_an_escaped_markdown_cell() -> None:
    items = [item("x", "vqa|rad", {R: "yes", S: "no"}, {R: True, S: False})]
    lines = markdown_table(compute_metrics(items, n_boot=20)).splitlines()
    row = next(line for line in lines if "vqa" in line)
    assert row.startswith("| vqa\\|rad | 1 | ")
    assert len(_md_cells(row)) == len(_md_cells(lines[0]))
    assert _md_cells(row)[0] == "vqa|rad"


def test_a_section_renders_the_same_rows_in_markdown_and_html() -> None:
    md_lines = markdown_section(SECTION)
    assert md_lines[:4] == ["## Extra <numbers>", "", "A note & more.", ""]
    table = md_lines[4].splitlines()
    assert _md_cells(table[0]) == list(SECTION.header)
    md_rows = [tuple(_md_cells(line)) for line in table[2:]]

    parts = html_section(SECTION)
    assert parts[0] == "<h2>Extra &lt;numbers&gt;</h2>"
    assert parts[1] == '<p class="note">A note &amp; more.</p>'
    wrapper = ET.fromstring(parts[2])
    assert wrapper.tag == "div" and wrapper.get("class") == "table-wrap"  # scrolls if too wide
    root = wrapper.find("table")
    assert root is not None
    head, *body = list(root)
    assert _html_cells(head) == list(SECTION.header)
    html_rows = [tuple(_html_cells(row)) for row in body]

    assert md_rows == html_rows == list(SECTION.rows)
    assert md_table(SECTION.header, SECTION.rows) == md_lines[4]
    table = html_table(SECTION.header, SECTION.rows)
    assert parts[2] == f'<div class="table-wrap">\n{table}\n</div>'


def test_a_section_with_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="cells"):
        ReportSection(title="t", header=("a", "b"), rows=(("1",),))


def test_sections_follow_the_core_tables_in_every_report(tmp_path: Path) -> None:
    items = [item("x", "tiny", {R: "yes", S: "no"}, {R: True, S: False})]
    metrics = compute_metrics(items, n_boot=20)
    plain = write_reports(metrics, tmp_path / "plain", title="t")
    extra = write_reports(metrics, tmp_path / "extra", title="t", sections=[SECTION])
    md = extra["md"].read_text()
    assert md.startswith(plain["md"].read_text())
    assert md.endswith("\n".join(markdown_section(SECTION)))
    html = extra["html"].read_text()
    ET.fromstring(html)  # still well-formed
    assert "\n".join(html_section(SECTION)) + "\n</body>" in html
    document = extra["json"].read_text()
    assert document.startswith(plain["json"].read_text()[:-3])  # same, then the extra key
    assert '"extra": {\n    "Overall": {\n      "k": 1' in document


def _labels(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [t for t in root.iter(f"{SVG}text") if t.get("class") == "lbl"]


def test_long_benchmark_names_turn_instead_of_overlapping() -> None:
    series = [("real", "#1f77b4"), ("shuffled", "#d62728"), ("blank", "#7f7f7f")]
    short = ["vqa-rad", "slake", "pathvqa", "Overall"]
    values = {(g, s): (0.5, 0.4, 0.6) for g in short for s, _ in series}
    flat = [t for t in _labels(bar_chart_svg(short, series, values, label="x")) if t.text in short]
    assert [t.text for t in flat] == short
    assert all(t.get("transform") is None for t in flat)

    long = ["vqa-rad", "slake", "pathvqa", "pmc-vqa-long-name", "Overall"]
    values = {(g, s): (0.5, 0.4, 0.6) for g in long for s, _ in series}
    svg = bar_chart_svg(long, series, values, label="x")
    turned = [t for t in _labels(svg) if t.text in long]
    assert [t.text for t in turned] == long
    assert all((t.get("transform") or "").startswith("rotate(-35.0 ") for t in turned)
    assert all(t.get("text-anchor") == "end" for t in turned)
    # the margin grew so the longest name (about 7 px a character) stays inside the plot
    root = ET.fromstring(svg)
    first = turned[0]
    assert float(first.get("x") or 0) - 7 * len("pmc-vqa-long-name") * 0.82 > 0
    assert float(root.get("height") or 0) > 34 + 220 + 48
