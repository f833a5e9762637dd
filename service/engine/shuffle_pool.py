"""A bounded in-memory pool of recent production images, keyed by HMAC image id.

Bounded by count and by bytes; each image is kept at most at the size the model consumes
(``max_pixels``, from the model's image processor), so a full-size upload pins only what the
shuffled condition will use. Images live in memory only; nothing in the pool is ever
persisted or returned by an endpoint.
"""

from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict

from PIL import Image

ONE_BYTE_MODES = frozenset({"1", "L", "P"})


def image_nbytes(image: Image.Image) -> int:
    """Bytes Pillow holds for the pixels (multi-band 8-bit images use 4 bytes a pixel)."""
    return image.width * image.height * (1 if image.mode in ONE_BYTE_MODES else 4)


def fit_pixels(image: Image.Image, max_pixels: int | None) -> Image.Image:
    """The image scaled down (aspect kept) to at most ``max_pixels`` pixels."""
    pixels = image.width * image.height
    if max_pixels is None or pixels <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / pixels)
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


class ShufflePool:
    def __init__(
        self,
        capacity: int,
        seed: int | None = None,
        *,
        max_bytes: int | None = None,
        max_pixels: int | None = None,
    ) -> None:
        if capacity < 2:
            raise ValueError("the shuffle pool needs room for at least two images")
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._max_pixels = max_pixels
        self._images: OrderedDict[str, Image.Image] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        with self._lock:
            return len(self._images)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._nbytes

    def add(self, image_id: str, image: Image.Image) -> None:
        """Pool the image at the model's size; the oldest go beyond the count or byte budget
        (an image larger than the whole budget is not pooled)."""
        image = fit_pixels(image, self._max_pixels)
        size = image_nbytes(image)
        if self._max_bytes is not None and size > self._max_bytes:
            return
        with self._lock:
            previous = self._images.pop(image_id, None)
            if previous is not None:
                self._nbytes -= image_nbytes(previous)
            self._images[image_id] = image
            self._nbytes += size
            while len(self._images) > self._capacity or (
                self._max_bytes is not None and self._nbytes > self._max_bytes
            ):
                _, oldest = self._images.popitem(last=False)
                self._nbytes -= image_nbytes(oldest)

    def draw(self, exclude_id: str) -> tuple[str, Image.Image] | None:
        """A random pooled image whose id differs from ``exclude_id``; None when there is none."""
        with self._lock:
            candidates = [key for key in self._images if key != exclude_id]
            if not candidates:
                return None
            key = self._rng.choice(candidates)
            return key, self._images[key]
