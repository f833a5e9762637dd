"""The report's inline SVG plots: grouped bars with interval whiskers, delta_logp histograms.

Drawn by hand (no plotting library, no scripts): the output is a pure function of its inputs.
Text widths are estimated at ``CHAR_W`` pixels a character of the 12px label font.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from audits.contracts.types import ALL_CONDITIONS, Condition
from audits.science.conditions import colours
from audits.science.estimates import DeltaLogpSummary, Rate
from audits.science.metrics import BenchmarkMetrics

CONDITION_COLOURS: dict[Condition, str] = {Condition.REAL: "#1f77b4", **colours()}
CHAR_W = 7.0
LABEL_ANGLE = 35.0
"""Degrees the x-axis labels of a bar chart turn when one is wider than its group."""

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
    return 17.0 + CHAR_W * len(name) + 18.0


def _legend(series: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    out = []
    for name, colour in series:
        out.append(
            f'<rect x="{_num(x)}" y="{_num(y - 10)}" width="12" height="12" fill="{colour}"/>'
        )
        out.append(f'<text x="{_num(x + 17)}" y="{_num(y)}" class="lbl">{escape(name)}</text>')
        x += _legend_step(name)
    return out


def _group_label(text: str, x: float, y: float, turned: bool) -> str:
    if not turned:
        return (
            f'<text x="{_num(x)}" y="{_num(y)}" class="lbl" text-anchor="middle">'
            f"{escape(text)}</text>"
        )
    # ends under its group and rises to the right, so long names never run into each other
    return (
        f'<text x="{_num(x)}" y="{_num(y - 6)}" class="lbl" text-anchor="end" '
        f'transform="rotate({_num(-LABEL_ANGLE)} {_num(x)} {_num(y - 6)})">{escape(text)}</text>'
    )


def bar_chart_svg(
    groups: Sequence[str],
    series: Sequence[tuple[str, str]],
    values: dict[tuple[str, str], Interval | None],
    *,
    label: str,
) -> str:
    """Grouped bars of proportions in [0, 1] with interval whiskers; missing values marked.

    Group labels are written under their group; when one is wider than a group they all turn
    by ``LABEL_ANGLE`` degrees and the margins grow to hold them.
    """
    left, top, bottom, right = 56.0, 34.0, 48.0, 16.0
    plot_h = 220.0
    bar_w = 18.0
    group_w = bar_w * len(series) + 26.0
    label_w = max((CHAR_W * len(g) for g in groups), default=0.0)
    turned = label_w > group_w  # CHAR_W overestimates, which leaves a gap
    if turned:
        angle = math.radians(LABEL_ANGLE)
        bottom = max(bottom, 18.0 + label_w * math.sin(angle) + 14.0)
        first_centre = 13.0 + bar_w * len(series) / 2
        left = max(left, math.ceil(label_w * math.cos(angle) - first_centre + 8.0))
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
        centre = gx + bar_w * len(series) / 2
        out.append(_group_label(group, centre, top + plot_h + 18, turned))
    out.append(
        f'<line x1="{_num(left)}" y1="{_num(y_of(0))}" x2="{_num(width - right)}" '
        f'y2="{_num(y_of(0))}" stroke="#333333"/>'
    )
    out.append("</svg>")
    return "\n".join(out)


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering [lo, hi], about
    ``target`` of them; the two ends when the range is empty."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if lo == hi else []
    raw = (hi - lo) / max(1, target - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [round(i * step, 10) + 0.0 for i in range(first, last + 1)]


def count_ticks(largest: int, target: int = 5) -> list[int]:
    """Whole-number ticks from 0 to the first tick at or above ``largest`` (at least 1), in
    steps of 1, 2 or 5 times a power of ten."""
    largest = max(1, largest)
    raw = largest / max(1, target - 1)
    power = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    top = math.ceil(largest / step) * step
    return list(range(0, top + 1, step))


def _short(value: float) -> str:
    """Three significant digits, so tiny values stay readable ("-0.00012", not "-0.00")."""
    text = f"{value:.3g}"
    return "0" if float(text) == 0 else text


def _tick_text(value: float, step: float) -> str:
    """A tick label with as many decimals as the step needs."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 2
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


def histogram_svg(summary: DeltaLogpSummary, *, label: str, colour: str) -> str:
    """One histogram panel from the precomputed bins of a delta_logp summary: round ticks on
    both axes (nats below, items on the left), a dashed line at 0 and the median."""
    left, top, bottom, right = 52.0, 28.0, 54.0, 16.0
    plot_w, plot_h = 300.0, 150.0
    width, height = left + plot_w + right, top + plot_h + bottom
    out = _svg_open(width, height, label)
    out.append(f'<text x="{_num(left)}" y="16" class="lbl">{escape(label)}</text>')
    counts = summary.hist_counts
    lo_edge, hi_edge = summary.hist_edges[0], summary.hist_edges[-1]
    span = hi_edge - lo_edge or 1.0
    y_ticks = count_ticks(max(counts, default=0))
    peak = y_ticks[-1]

    def x_of(v: float) -> float:
        return left + plot_w * (v - lo_edge) / span

    def y_of(count: float) -> float:
        return top + plot_h * (1 - count / peak)

    for tick in y_ticks:
        y = y_of(tick)
        out.append(
            f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(left + plot_w)}" y2="{_num(y)}" '
            'stroke="#eeeeee"/>'
        )
        out.append(
            f'<text x="{_num(left - 6)}" y="{_num(y + 4)}" class="tick" text-anchor="end">'
            f"{int(tick)}</text>"
        )
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
    out.append(
        f'<line x1="{_num(left)}" y1="{_num(top)}" x2="{_num(left)}" y2="{_num(base)}" '
        'stroke="#333333"/>'
    )
    x_ticks = nice_ticks(lo_edge, hi_edge, target=6)
    step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else span
    for value in x_ticks or [lo_edge]:
        x = x_of(value)
        out.append(
            f'<line x1="{_num(x)}" y1="{_num(base)}" x2="{_num(x)}" y2="{_num(base + 4)}" '
            'stroke="#333333"/>'
        )
        out.append(
            f'<text x="{_num(x)}" y="{_num(base + 16)}" class="tick" '
            f'text-anchor="middle">{_tick_text(value, step)}</text>'
        )
    out.append(
        f'<text x="{_num(left + plot_w / 2)}" y="{_num(base + 32)}" class="tick" '
        f'text-anchor="middle">delta_logp (nats)</text>'
    )
    out.append(
        f'<text x="{_num(left + plot_w / 2)}" y="{_num(base + 47)}" class="tick" '
        f'text-anchor="middle">n={summary.n}, median {_short(summary.median)}, '
        f"range {_short(summary.min)} to {_short(summary.max)}</text>"
    )
    mid = top + plot_h / 2
    out.append(
        f'<text x="12" y="{_num(mid)}" class="tick" text-anchor="middle" '
        f'transform="rotate(-90 12 {_num(mid)})">items</text>'
    )
    out.append("</svg>")
    return "\n".join(out)


def _interval(rate: Rate | None) -> Interval | None:
    return None if rate is None else (rate.value, rate.lo, rate.hi)


SENSITIVITY_SERIES: tuple[tuple[str, str], ...] = (
    ("IS", "#d62728"),
    ("Oracle IS", "#f7b6b2"),
    ("IS_blank", "#7f7f7f"),
    ("HVRR", "#9467bd"),
)


def accuracy_svg(
    groups: Sequence[BenchmarkMetrics], *, label: str = "Accuracy per condition"
) -> str | None:
    """Accuracy per condition, one group of bars per benchmark (or modality, question type)."""
    shown = [c for c in ALL_CONDITIONS if any(m.accuracy.get(c) is not None for m in groups)]
    values = {(m.benchmark, c.value): _interval(m.accuracy.get(c)) for m in groups for c in shown}
    if all(v is None for v in values.values()):
        return None
    return bar_chart_svg(
        [m.benchmark for m in groups],
        [(c.value, CONDITION_COLOURS[c]) for c in shown],
        values,
        label=label,
    )


def sensitivity_svg(
    groups: Sequence[BenchmarkMetrics], *, label: str = "Image sensitivity and HVRR"
) -> str | None:
    """IS beside the oracle IS (what a grounded model would score), IS_blank and HVRR."""
    values: dict[tuple[str, str], Interval | None] = {}
    for m in groups:
        values[(m.benchmark, "IS")] = _interval(m.image_sensitivity)
        values[(m.benchmark, "Oracle IS")] = _interval(m.oracle_is)
        values[(m.benchmark, "IS_blank")] = _interval(m.is_blank)
        values[(m.benchmark, "HVRR")] = _interval(m.hvrr)
    if all(v is None for v in values.values()):
        return None
    return bar_chart_svg([m.benchmark for m in groups], SENSITIVITY_SERIES, values, label=label)
