"""`grounding-audit check-model PATH`: load a checkpoint as the service does, probe it, say so."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_path", type=Path, help="local checkpoint folder")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")


def run(args: argparse.Namespace) -> int:
    from audits.backends.transformers_runtime import TransformersRuntime, UnsupportedCheckpoint

    try:
        runtime = TransformersRuntime(args.model_path, device=args.device, dtype=args.dtype)
    except (UnsupportedCheckpoint, FileNotFoundError) as error:
        print(f"cannot serve: {error}", file=sys.stderr)
        return 2
    print(
        f"ok: {runtime.architecture} from {args.model_path} generates and scores with and "
        f"without an image on {runtime.device} ({runtime.dtype})"
    )
    return 0
