"""The shuffle pool can start full, so the first audit of a fresh server runs every condition."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from service.core import GroundingCore
from service.settings import Settings
from service.startup import warm_pool_images
from tests.unit.engine.test_dicom_requests import BrightnessBackend


def _images(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for index in range(count):
        Image.new("RGB", (2000, 2000), (index * 20, 40, 90)).save(folder / f"{index}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_a_warm_folder_fills_the_pool_at_the_model_size(tmp_path: Path) -> None:
    settings = Settings(
        redis_url="", shuffle_pool_warm_dir=_images(tmp_path / "warm", 5), sample_rate=0.0
    )
    core = GroundingCore(settings, backend=BrightnessBackend())
    assert len(core.pool) == 5  # the text file was logged and left out
    drawn = core.pool.draw(exclude_id="none")
    assert drawn is not None


def test_without_a_folder_only_a_reference_model_starts_warm(tmp_path: Path) -> None:
    settings = Settings(redis_url="", cache_dir=tmp_path / "cache")
    assert warm_pool_images(settings, serving_reference=False) == []
    images = warm_pool_images(settings, serving_reference=True)
    assert len(images) == 32 and all(path.suffix == ".png" for path in images)
    # your own checkpoint, or a backend handed in: an empty pool, as before
    assert len(GroundingCore(settings, backend=BrightnessBackend()).pool) == 0
