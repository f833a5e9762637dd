"""`grounding-audit convert`: turn a downloaded benchmark into a manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audits.data.converters import FORMATS, SPLITS, ConvertOptions, convert


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--input", required=True, type=Path, help="downloaded file or folder")
    parser.add_argument("--out", required=True, type=Path, help="manifest JSONL to write")
    parser.add_argument(
        "--images-dir",
        type=Path,
        default=None,
        help="where the images are (path formats) or are written to (embedded images)",
    )
    parser.add_argument("--split", default="test", choices=SPLITS)


def run(args: argparse.Namespace) -> int:
    opts = ConvertOptions(
        input=args.input, out=args.out, images_dir=args.images_dir, split=args.split
    )
    try:
        items = convert(args.format, opts)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    missing = [item.image for item in items if not Path(item.image).is_file()]
    print(f"wrote {len(items)} items to {args.out}")
    if missing:
        print(
            f"warning: {len(missing)} image file(s) not found, e.g. {missing[0]}",
            file=sys.stderr,
        )
    return 0
