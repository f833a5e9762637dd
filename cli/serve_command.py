"""`grounding-audit serve`: build the reference model if needed, check the checkpoint, then
`bentoml serve`; a checkpoint the runtime cannot serve stops here with the reason."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import get_args


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--model-path", type=Path, help="checkpoint folder (GROUNDING_MODEL_PATH)")
    from service.settings import ReferenceModel

    parser.add_argument(
        "--reference-model", choices=get_args(ReferenceModel), help="built-in model"
    )


def run(args: argparse.Namespace) -> int:
    if args.model_path:
        os.environ["GROUNDING_MODEL_PATH"] = str(args.model_path)
    if args.reference_model:
        os.environ["GROUNDING_REFERENCE_MODEL"] = args.reference_model
    from audits.backends.transformers_runtime import UnsupportedCheckpoint, check_checkpoint
    from service.settings import Settings
    from service.startup import resolve_model_dir

    model_dir = resolve_model_dir(Settings())
    try:
        config, _ = check_checkpoint(model_dir)
    except (UnsupportedCheckpoint, FileNotFoundError) as error:
        print(f"cannot serve: {error}", file=sys.stderr)
        return 2
    print(
        f"serving {model_dir} ({', '.join(config.architectures or [config.model_type])})",
        flush=True,
    )
    bentoml = Path(sys.executable).parent / "bentoml"
    command = [str(bentoml), "serve", "service.service:GroundingService"]
    command += ["--port", str(args.port), "--host", args.host]
    os.execv(command[0], command)
    return 0
