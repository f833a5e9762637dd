"""`grounding-audit score`: every metric from a predictions file, no model needed.

    grounding-audit score --predictions preds.jsonl --out audit-report/

Writes report.json, report.md, report.html and items.jsonl into ``--out`` and prints the
per-benchmark table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audits.data.predictions import audits_from_predictions, read_predictions
from audits.reports.markdown import markdown_table
from audits.reports.writer import write_reports
from audits.science.metrics import compute_metrics


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", required=True, type=Path, help="predictions JSONL file")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("audit-report"),
        help="report folder (default: %(default)s)",
    )
    parser.add_argument("--title", default=None, help="report title (default: the file name)")
    parser.add_argument(
        "--f1-threshold",
        type=float,
        default=None,
        help="open answers also match when their token F1 reaches this value",
    )
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def run(args: argparse.Namespace) -> int:
    try:
        rows = read_predictions(args.predictions)
        items = audits_from_predictions(rows, f1_threshold=args.f1_threshold)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not items:
        print(f"error: {args.predictions} holds no predictions", file=sys.stderr)
        return 2
    metrics = compute_metrics(items, n_boot=args.n_boot, seed=args.seed)
    title = args.title or f"Grounding audit: {args.predictions.name}"
    paths = write_reports(metrics, args.out, title=title, items=items)
    print(markdown_table(metrics))
    print()
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
