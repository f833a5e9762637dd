"""A report section as data: a titled table that every renderer (Markdown, HTML, JSON) shows.

Extras computed outside the core metrics (the offline runner's text stress tests and Pass@K)
reach the reports as ``ReportSection`` values passed to ``write_reports``; the renderers render
them generically after the core tables, so nothing patches a rendered file. A section whose
rows are groups of items (a modality, a question type) carries their metrics in ``groups``; the
HTML report draws them as plots beside the table, with the breakdowns near the top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from audits.science.metrics import BenchmarkMetrics


@dataclass(frozen=True)
class ReportSection:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    """Formatted cells, one tuple per row, as long as ``header``."""
    note: str | None = None
    """A sentence shown between the title and the table."""
    key: str | None = None
    """Top-level key of ``report.json`` that holds ``data``; None leaves the JSON as it is."""
    data: Mapping[str, Any] | None = field(default=None, compare=False)
    """The section's numbers, JSON-ready (``model_dump(mode="json")``)."""
    groups: Mapping[str, BenchmarkMetrics] | None = field(default=None, compare=False)
    """The metrics of each row's group of items (named as in ``BenchmarkMetrics.benchmark``),
    for plots; None for a section that is only a table."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "header", tuple(self.header))
        object.__setattr__(self, "rows", tuple(tuple(row) for row in self.rows))
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"section {self.title!r}: a row of {len(row)} cells")
