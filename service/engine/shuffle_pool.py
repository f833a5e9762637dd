"""A bounded in-memory pool of recent production images, keyed by HMAC image id.

Images live in memory only; nothing in the pool is ever persisted or returned by an endpoint.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict

from PIL import Image


class ShufflePool:
    def __init__(self, capacity: int, seed: int | None = None) -> None:
        if capacity < 2:
            raise ValueError("the shuffle pool needs room for at least two images")
        self._capacity = capacity
        self._images: OrderedDict[str, Image.Image] = OrderedDict()
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        with self._lock:
            return len(self._images)

    def add(self, image_id: str, image: Image.Image) -> None:
        with self._lock:
            self._images[image_id] = image
            self._images.move_to_end(image_id)
            while len(self._images) > self._capacity:
                self._images.popitem(last=False)

    def draw(self, exclude_id: str) -> tuple[str, Image.Image] | None:
        """A random pooled image whose id differs from ``exclude_id``; None when there is none."""
        with self._lock:
            candidates = [key for key in self._images if key != exclude_id]
            if not candidates:
                return None
            key = self._rng.choice(candidates)
            return key, self._images[key]
