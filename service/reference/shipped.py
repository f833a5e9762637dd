"""The reference models shipped with the repository (``models/reference/``): their folder
names and the SHA-256 of every file (``SHA256SUMS``, ``sha256sum`` format).

The full-budget, seed-0 checkpoint of every trained kind ships: a tiny model trained on another
CPU is another model (float results differ in the last bits), so the shipped weights are what
the known answers are asserted on and what ``make run`` serves, with no training at start.
``scripts/ship_reference_models.sh`` retrains them (``reference_models.training``) and rewrites
``SHA256SUMS``; bump ``MODELS_VERSION`` when a recipe, the phantom or the tokenizer changes.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from service.settings import ReferenceModel as ReferenceKind

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "models" / "reference"
SHIPPED_SUMS = "SHA256SUMS"
MODELS_VERSION = "v3"
MODEL_SEED = 0

_log = logging.getLogger(__name__)


def model_folder_name(kind: ReferenceKind, steps: int, seed: int = MODEL_SEED) -> str:
    """``<kind>-v3``; a non-default training budget or seed gets its own folder
    (``-steps<N>``, ``-seed<N>``)."""
    from reference_models.training import DEFAULT_STEPS

    name = f"{kind}-{MODELS_VERSION}"
    if kind != "random" and steps != DEFAULT_STEPS:
        name += f"-steps{steps}"
    if kind != "random" and seed != MODEL_SEED:
        name += f"-seed{seed}"
    return name


def shipped_model(
    kind: ReferenceKind, steps: int, seed: int = MODEL_SEED, shipped_dir: Path = SHIPPED_DIR
) -> Path | None:
    """The shipped checkpoint folder of this kind, budget and seed when there is one and every
    file matches its SHA-256 in ``SHA256SUMS``; None otherwise (a mismatch is logged)."""
    from reference_models.training import DEFAULT_STEPS

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
