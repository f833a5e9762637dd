"""The shipped reference models (models/reference/): every trained kind is there and matches
SHA256SUMS, so the service serves them without training; a file that fails its hash is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

from reference_models.training import DEFAULT_STEPS, TRAINED_KINDS
from service.reference.shipped import (
    SHIPPED_DIR,
    SHIPPED_SUMS,
    model_folder_name,
    read_shipped_sums,
    shipped_model,
)


def test_every_trained_kind_ships_and_matches_its_hashes() -> None:
    for kind in TRAINED_KINDS:
        assert shipped_model(kind, DEFAULT_STEPS) == SHIPPED_DIR / model_folder_name(
            kind, DEFAULT_STEPS
        )
    folders = {name.split("/", 1)[0] for name in read_shipped_sums()}
    assert folders == {model_folder_name(kind, DEFAULT_STEPS) for kind in TRAINED_KINDS}


def test_other_budgets_seeds_and_the_random_model_are_not_shipped() -> None:
    assert shipped_model("random", DEFAULT_STEPS) is None
    assert shipped_model("grounded", DEFAULT_STEPS + 1) is None
    assert shipped_model("grounded", DEFAULT_STEPS, seed=1) is None


def test_a_file_that_fails_its_hash_is_not_served(tmp_path: Path) -> None:
    name = model_folder_name("grounded", DEFAULT_STEPS)
    shutil.copytree(SHIPPED_DIR / name, tmp_path / name)
    shutil.copy(SHIPPED_DIR / SHIPPED_SUMS, tmp_path / SHIPPED_SUMS)
    assert shipped_model("grounded", DEFAULT_STEPS, shipped_dir=tmp_path) == tmp_path / name
    (tmp_path / name / "config.json").write_text("{}\n")
    assert shipped_model("grounded", DEFAULT_STEPS, shipped_dir=tmp_path) is None
