"""The reference model the service serves, found or built once under ``<cache_dir>/models/``.

The shipped weights (``models/reference/``, ``service.reference.shipped``) are used when every
file matches its hash, so ``make run`` trains nothing. Other budgets and seeds (and shipped files
that fail their hash) are built here by ``reference_models``, the same reproducible path that
produced the shipped ones; ``random`` is the untrained demo checkpoint. Only the model asked for
is built, once (``reference_models.build_cache``), so concurrent processes (service workers,
test sessions) never see a half-written folder.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import get_args

from reference_models.build_cache import build_once
from reference_models.phantom_data import ensure_phantom_data
from service.reference.shipped import MODEL_SEED, model_folder_name, shipped_model
from service.settings import ReferenceModel as ReferenceKind

REFERENCE_KINDS: tuple[ReferenceKind, ...] = get_args(ReferenceKind)


def ensure_reference_model(
    kind: ReferenceKind,
    cache_dir: Path,
    *,
    steps: int | None = None,
    progress: bool = True,
    seed: int = MODEL_SEED,
) -> Path:
    """The cached checkpoint folder of a reference model, built on first use.

    ``steps`` defaults to ``GROUNDING_TRAIN_STEPS`` or the full budget (1,300).
    """
    if kind not in REFERENCE_KINDS:
        raise ValueError(f"unknown reference model {kind!r}; choose from {REFERENCE_KINDS}")
    from reference_models.training import default_train_steps

    steps = default_train_steps() if steps is None else steps
    shipped = shipped_model(kind, steps, seed)
    if shipped is not None:
        return shipped
    target = Path(cache_dir) / "models" / model_folder_name(kind, steps, seed)
    return build_once(
        target,
        lambda tmp: _build_model(
            kind, Path(cache_dir), tmp, steps=steps, progress=progress, seed=seed
        ),
        ready=lambda folder: (folder / "config.json").is_file(),
    )


def ensure_reference_models(
    kinds: Sequence[ReferenceKind],
    cache_dir: Path,
    *,
    steps: int | None = None,
    workers: int | None = None,
) -> dict[ReferenceKind, Path]:
    """Several reference models, built in parallel processes (one torch thread each).

    Training uses one CPU thread per model, so ``workers`` (default: the CPU count, at most 4)
    models train at once; the file locks keep every folder built once.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = max(1, min(len(kinds), workers or min(4, cpus or 1)))
    if workers == 1:
        return {kind: ensure_reference_model(kind, cache_dir, steps=steps) for kind in kinds}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            kind: pool.submit(
                ensure_reference_model, kind, Path(cache_dir), steps=steps, progress=False
            )
            for kind in kinds
        }
        return {kind: future.result() for kind, future in futures.items()}


def _build_model(
    kind: ReferenceKind, cache_dir: Path, out_dir: Path, *, steps: int, progress: bool, seed: int
) -> None:
    if kind == "random":
        from reference_models.demo_model import write_demo_checkpoint

        write_demo_checkpoint(out_dir, seed=MODEL_SEED)
        return
    from reference_models.training import train_reference_model

    data = ensure_phantom_data(cache_dir)
    train_reference_model(
        data.train,
        out_dir,
        kind=kind,
        steps=steps,
        seed=seed,
        heldout_manifest=data.heldout,
        progress=progress,
    )


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--which",
        default="grounded_reasoner",
        help=f"comma-separated reference models, from {','.join(REFERENCE_KINDS)}",
    )
    parser.add_argument("--cache-dir", type=Path, help="default: $GROUNDING_CACHE_DIR")
    parser.add_argument("--steps", type=int, help="default: $GROUNDING_TRAIN_STEPS or 1300")
    parser.add_argument("--workers", type=int, help="models trained at once (default: CPUs, <= 4)")


def run(args: argparse.Namespace) -> int:
    kinds = [part.strip() for part in args.which.split(",") if part.strip()]
    unknown = [kind for kind in kinds if kind not in REFERENCE_KINDS]
    if unknown or not kinds:
        print(f"--which takes {','.join(REFERENCE_KINDS)}; got {args.which!r}", file=sys.stderr)
        return 2
    cache_dir = args.cache_dir
    if cache_dir is None:
        from service.settings import Settings

        cache_dir = Settings().model.cache_dir
    ensure_phantom_data(cache_dir)
    built = ensure_reference_models(kinds, cache_dir, steps=args.steps, workers=args.workers)
    for kind, folder in built.items():
        print(f"{kind}: {folder}{_summary(folder)}")
    return 0


def _summary(folder: Path) -> str:
    from reference_models.training import REPORT_NAME, TrainReport

    report_path = folder / REPORT_NAME
    if not report_path.is_file():
        return ""
    report = TrainReport.model_validate_json(report_path.read_text())
    held = report.heldout
    return (
        f" (held-out accuracy {held.accuracy:.3f}, majority {held.majority_accuracy:.3f}, "
        f"IS {held.image_sensitivity:.3f}, claim rate {held.visual_claim_rate:.3f}, "
        f"{held.mean_output_tokens:.0f} output tokens, {report.steps} steps, "
        f"{report.train_seconds:.0f} s)"
    )
