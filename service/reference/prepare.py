"""Build the reference models once and cache them under ``<cache_dir>/models/``.

The trained kinds and their recipes are in service/reference/training.py (three reasoners and
two one-word models, all on the phantom data set); ``random`` is the untrained demo
checkpoint. The full-budget, seed-0 checkpoint of every trained kind ships with the repository
(``models/reference/``, hashes in its ``SHA256SUMS``): a tiny model trained on another CPU is
another model (float results differ in the last bits), so the shipped weights are what the
known answers are asserted on and what ``make run`` serves, with no training at start. Other
budgets and seeds (and shipped files that fail their hash) are trained here, which is the same
reproducible path that produced the shipped ones (``scripts/ship_reference_models.sh``).
Only the model asked for is built. Each folder is built in
a temporary folder and renamed into place when complete, under a file lock, so concurrent
processes (service workers, test sessions) build it once and never see a half-written folder.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import get_args

from pydantic import BaseModel

from service.settings import ReferenceModel as ReferenceKind

REFERENCE_KINDS: tuple[ReferenceKind, ...] = get_args(ReferenceKind)
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "models" / "reference"
SHIPPED_SUMS = "SHA256SUMS"
MODELS_VERSION = "v3"
PHANTOM_VERSION = "v3"
TRAIN_IMAGES, TRAIN_SEED = 3000, 0
HELDOUT_IMAGES, HELDOUT_SEED = 300, 1
MODEL_SEED = 0

_log = logging.getLogger(__name__)


class PhantomData(BaseModel):
    train: Path
    heldout: Path


def model_folder_name(kind: ReferenceKind, steps: int, seed: int = MODEL_SEED) -> str:
    """``<kind>-v3``; a non-default training budget or seed gets its own folder
    (``-steps<N>``, ``-seed<N>``)."""
    from service.reference.training import DEFAULT_STEPS

    name = f"{kind}-{MODELS_VERSION}"
    if kind != "random" and steps != DEFAULT_STEPS:
        name += f"-steps{steps}"
    if kind != "random" and seed != MODEL_SEED:
        name += f"-seed{seed}"
    return name


def ensure_phantom_data(cache_dir: Path) -> PhantomData:
    """The training and held-out phantom manifests (separate images, separate seeds)."""
    from audits.data.phantom import MANIFEST_NAME, make_phantom

    root = Path(cache_dir) / "data" / f"phantom-{PHANTOM_VERSION}"
    splits = {"train": (TRAIN_IMAGES, TRAIN_SEED), "heldout": (HELDOUT_IMAGES, HELDOUT_SEED)}
    for split, (n_images, seed) in splits.items():
        _build_once(
            root / split,
            lambda tmp, n=n_images, s=seed: make_phantom(tmp, n, s),
            ready=lambda folder: (folder / MANIFEST_NAME).is_file(),
        )
    return PhantomData(
        train=root / "train" / MANIFEST_NAME, heldout=root / "heldout" / MANIFEST_NAME
    )


WARM_POOL_IMAGES, WARM_POOL_SEED = 32, 7


def ensure_warm_pool_images(cache_dir: Path) -> list[Path]:
    """32 phantom images (their own seed, none of the training or held-out images) that fill
    a reference model's shuffle pool at start."""
    from audits.data.phantom import MANIFEST_NAME, make_phantom

    folder = _build_once(
        Path(cache_dir) / "data" / f"pool-{PHANTOM_VERSION}",
        lambda tmp: make_phantom(tmp, WARM_POOL_IMAGES, WARM_POOL_SEED),
        ready=lambda folder: (folder / MANIFEST_NAME).is_file(),
    )
    return sorted(path for path in folder.rglob("*.png"))


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
    from service.reference.training import default_train_steps

    steps = default_train_steps() if steps is None else steps
    shipped = shipped_model(kind, steps, seed)
    if shipped is not None:
        return shipped
    target = Path(cache_dir) / "models" / model_folder_name(kind, steps, seed)
    return _build_once(
        target,
        lambda tmp: _build_model(
            kind, Path(cache_dir), tmp, steps=steps, progress=progress, seed=seed
        ),
        ready=lambda folder: (folder / "config.json").is_file(),
    )


def shipped_model(
    kind: ReferenceKind, steps: int, seed: int = MODEL_SEED, shipped_dir: Path = SHIPPED_DIR
) -> Path | None:
    """The shipped checkpoint folder of this kind, budget and seed when there is one and every
    file matches its SHA-256 in ``SHA256SUMS``; None otherwise (a mismatch is logged)."""
    from service.reference.training import DEFAULT_STEPS

    folder = shipped_dir / model_folder_name(kind, steps, seed)
    if kind == "random" or steps != DEFAULT_STEPS or seed != MODEL_SEED or not folder.is_dir():
        return None
    expected = read_shipped_sums(shipped_dir)
    prefix = f"{folder.name}/"
    files = {name: digest for name, digest in expected.items() if name.startswith(prefix)}
    if not files or any(
        _sha256(shipped_dir / name) != digest for name, digest in sorted(files.items())
    ):
        _log.warning(
            "shipped weights in %s do not match %s; training %s here instead",
            folder,
            shipped_dir / SHIPPED_SUMS,
            kind,
        )
        return None
    return folder


def read_shipped_sums(shipped_dir: Path = SHIPPED_DIR) -> dict[str, str]:
    """``relative path -> sha256`` from ``SHA256SUMS`` (``sha256sum`` format)."""
    sums = shipped_dir / SHIPPED_SUMS
    if not sums.is_file():
        return {}
    out: dict[str, str] = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name.lstrip("*").strip()] = digest
    return out


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
        from service.reference.demo_model import write_demo_checkpoint

        write_demo_checkpoint(out_dir, seed=MODEL_SEED)
        return
    from service.reference.training import train_reference_model

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


def _build_once(
    target: Path, build: Callable[[Path], object], *, ready: Callable[[Path], bool]
) -> Path:
    """Run build(tmp) and rename tmp to target, unless target is ready; at most one builder."""
    if ready(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{target.name}.lock"):
        if ready(target):
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            build(tmp)
            tmp.chmod(0o755)  # mkdtemp makes it private; the service may run as another user
            if target.exists():  # left over without its ready marker: never completed
                shutil.rmtree(target)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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

        cache_dir = Settings().cache_dir
    ensure_phantom_data(cache_dir)
    built = ensure_reference_models(kinds, cache_dir, steps=args.steps, workers=args.workers)
    for kind, folder in built.items():
        print(f"{kind}: {folder}{_summary(folder)}")
    return 0


def _summary(folder: Path) -> str:
    from service.reference.training import REPORT_NAME, TrainReport

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
