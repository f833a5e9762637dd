"""The report files: ``report.json`` (machine), ``report.md``, ``report.html``, ``items.jsonl``.

Output is a pure function of its inputs: the same metrics give byte-identical files, so a
resumed run can be diffed against an uninterrupted one. Nothing time-dependent is written
unless ``generated_at`` is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from audits.contracts.types import ItemAudit
from audits.reports.breakdowns import question_type_section
from audits.reports.html import html_report
from audits.reports.markdown import markdown_report
from audits.reports.paper import PAPER_REFERENCE
from audits.reports.sections import ReportSection
from audits.reports.tables import paired_section
from audits.reports.verdict import audit_verdicts
from audits.science.metrics import AuditMetrics


def report_json(
    metrics: AuditMetrics,
    *,
    title: str,
    generated_at: str | None = None,
    sections: Sequence[ReportSection] = (),
) -> dict[str, object]:
    """The JSON document; each section with a ``key`` adds its ``data`` under that key.

    ``verdict`` holds the plain verdict with the numbers behind it (``audits.reports.verdict``):
    Overall, and each benchmark when there are several.
    """
    document: dict[str, object] = {"title": title}
    if generated_at is not None:
        document["generated_at"] = generated_at
    document["verdict"] = {
        name: v.model_dump(mode="json") for name, v in audit_verdicts(metrics).items()
    }
    document["metrics"] = metrics.model_dump(mode="json")
    document["paper_reference"] = [f.model_dump(mode="json") for f in PAPER_REFERENCE]
    for section in sections:
        if section.key is not None:
            document[section.key] = section.data
    return document


def write_reports(
    metrics: AuditMetrics,
    out_dir: Path,
    *,
    title: str,
    items: Sequence[ItemAudit] | None = None,
    generated_at: str | None = None,
    sections: Sequence[ReportSection] = (),
    images: Mapping[str, str | Path] | None = None,
) -> dict[str, Path]:
    """Write report.json, report.md, report.html (and items.jsonl when ``items`` are given).

    ``sections`` are rendered after the core tables of every report. With ``items`` the
    reports also break the audit down by question type. ``images`` (item id -> image path)
    puts thumbnails of the flagged items' images in report.html. Returns the written paths
    keyed by "json", "md", "html" (and "items").
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_type = (
        None
        if items is None
        else question_type_section(items, n_boot=metrics.n_boot, seed=metrics.seed)
    )
    sections = [paired_section(metrics), *([by_type] if by_type else []), *sections]
    paths = {
        "json": out_dir / "report.json",
        "md": out_dir / "report.md",
        "html": out_dir / "report.html",
    }
    document = report_json(metrics, title=title, generated_at=generated_at, sections=sections)
    paths["json"].write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    paths["md"].write_text(
        markdown_report(metrics, title=title, generated_at=generated_at, sections=sections),
        encoding="utf-8",
    )
    paths["html"].write_text(
        html_report(
            metrics,
            title=title,
            items=items,
            generated_at=generated_at,
            sections=sections,
            images=images,
        ),
        encoding="utf-8",
    )
    if items is not None:
        paths["items"] = out_dir / "items.jsonl"
        with paths["items"].open("w", encoding="utf-8") as fh:
            for item in items:
                fh.write(item.model_dump_json() + "\n")
    return paths
