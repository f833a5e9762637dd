"""The phantom data sets of the reference models, built once under ``<cache_dir>/data/``: the
training and held-out manifests (separate images, separate seeds) and the images that fill a
reference model's shuffle pool at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from audits.data.phantom import MANIFEST_NAME, make_phantom
from reference_models.build_cache import build_once

PHANTOM_VERSION = "v3"
TRAIN_IMAGES, TRAIN_SEED = 3000, 0
HELDOUT_IMAGES, HELDOUT_SEED = 300, 1
WARM_POOL_IMAGES, WARM_POOL_SEED = 32, 7


class PhantomData(BaseModel):
    train: Path
    heldout: Path


def ensure_phantom_data(cache_dir: Path) -> PhantomData:
    """The training and held-out phantom manifests (separate images, separate seeds)."""
    root = Path(cache_dir) / "data" / f"phantom-{PHANTOM_VERSION}"
    splits = {"train": (TRAIN_IMAGES, TRAIN_SEED), "heldout": (HELDOUT_IMAGES, HELDOUT_SEED)}
    for split, (n_images, seed) in splits.items():
        build_once(
            root / split,
            lambda tmp, n=n_images, s=seed: make_phantom(tmp, n, s),
            ready=lambda folder: (folder / MANIFEST_NAME).is_file(),
        )
    return PhantomData(
        train=root / "train" / MANIFEST_NAME, heldout=root / "heldout" / MANIFEST_NAME
    )


def ensure_warm_pool_images(cache_dir: Path) -> list[Path]:
    """32 phantom images (their own seed, none of the training or held-out images) that fill
    a reference model's shuffle pool at start."""
    folder = build_once(
        Path(cache_dir) / "data" / f"pool-{PHANTOM_VERSION}",
        lambda tmp: make_phantom(tmp, WARM_POOL_IMAGES, WARM_POOL_SEED),
        ready=lambda folder: (folder / MANIFEST_NAME).is_file(),
    )
    return sorted(path for path in folder.rglob("*.png"))
