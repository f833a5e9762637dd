"""Small real images for tests, encoded in memory."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def noise_image(seed: int, size: tuple[int, int] = (64, 64)) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_bytes(seed: int = 0, size: tuple[int, int] = (64, 64)) -> bytes:
    return encode(noise_image(seed, size))
