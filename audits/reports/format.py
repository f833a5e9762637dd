"""Cell formatting and the one Markdown and one HTML table helper every report table goes through.

Numbers become strings here (rates and differences with their 95% interval in brackets); the
Markdown helper escapes ``|`` inside cells, the HTML helper escapes markup and puts an interval
on a second, smaller line.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from audits.science.estimates import Diff, Rate, Ratio

NA = "n/a"


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


def fmt_float(value: float | None, digits: int = 3) -> str:
    return NA if value is None else f"{value:.{digits}f}"


def md_cell(text: str) -> str:
    """A Markdown table cell: a ``|`` in the text would end the cell, so it is escaped."""
    return text.replace("|", "\\|")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(md_cell(c) for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *(line(r) for r in rows)])


def html_cell(text: str) -> str:
    """A metric cell: the estimate, and its interval on a second, smaller line."""
    value, sep, interval = text.partition(" [")
    if not sep:
        return escape(text)
    return f'{escape(value)}<br/><span class="ci">[{escape(interval)}</span>'


def html_table(
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
        out.append(f"<tr{cls}>" + "".join(f"<td>{html_cell(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)
