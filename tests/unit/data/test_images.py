"""Offline image loading reads a file the way the service decodes an upload: EXIF orientation
applied, 16-bit stretched to 8 bits, transparency over black (``audits.data.images.to_rgb``)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from audits.data.images import load_image
from tests.support.images import exif_rotated_jpeg, sixteen_bit_png, transparent_png


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_an_exif_rotated_jpeg_is_loaded_upright(tmp_path: Path) -> None:
    image = load_image(_file(tmp_path, "rotated.jpg", exif_rotated_jpeg()))
    assert image.mode == "RGB"
    assert image.size == (20, 40)


def test_a_sixteen_bit_png_keeps_its_contrast(tmp_path: Path) -> None:
    path = _file(tmp_path, "ramp.png", sixteen_bit_png())
    with Image.open(path) as raw:
        assert raw.mode.startswith("I")
    image = load_image(path)
    assert image.mode == "RGB"
    gray = image.convert("L")
    assert gray.getextrema() == (0, 255)
    assert 100 < gray.getpixel((32, 32)) < 160  # mid-ramp is mid-gray, not clipped to white
    assert len(set(gray.getdata())) > 200


def test_transparent_pixels_are_black_not_their_hidden_colour(tmp_path: Path) -> None:
    image = load_image(_file(tmp_path, "alpha.png", transparent_png()))
    assert image.mode == "RGB"
    assert image.getpixel((4, 4)) == (255, 255, 255)
    assert image.getpixel((28, 4)) == (0, 0, 0)


def test_an_ordinary_rgb_png_is_unchanged(tmp_path: Path) -> None:
    original = Image.new("RGB", (8, 6), (10, 120, 200))
    original.putpixel((1, 2), (250, 3, 7))
    path = tmp_path / "plain.png"
    original.save(path)
    assert load_image(path).tobytes() == original.tobytes()
