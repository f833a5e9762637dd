"""Counterfactual builders shared by the online mirror and the offline suite (DESIGN.md s.3)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from PIL import Image

BLANK_RGB = (128, 128, 128)


def blank_like(image: Image.Image) -> Image.Image:
    """A uniform gray RGB image of the real image's size."""
    return Image.new("RGB", image.size, BLANK_RGB)


def seeded_derangement(image_keys: Sequence[str], seed: int) -> list[int]:
    """For each position, the index of another item whose image differs (key = content id).

    Never the item's own image, nor an identical image. Raises ValueError when no such
    partner exists (fewer than two distinct images).
    """
    n = len(image_keys)
    if n == 0:
        return []
    if len(set(image_keys)) < 2:
        raise ValueError("a shuffled condition needs at least two distinct images")
    rng = random.Random(seed)
    order = list(range(n))
    for _ in range(100):
        rng.shuffle(order)
        partners = order[1:] + order[:1]
        by_position = [0] * n
        for source, target in zip(order, partners, strict=True):
            by_position[source] = target
        if all(image_keys[i] != image_keys[by_position[i]] for i in range(n)):
            return by_position
    return _repair_collisions(image_keys, rng)


def _repair_collisions(image_keys: Sequence[str], rng: random.Random) -> list[int]:
    """Fallback for heavily duplicated images: pick any index with a different image."""
    n = len(image_keys)
    result = []
    for i in range(n):
        candidates = [j for j in range(n) if image_keys[j] != image_keys[i]]
        result.append(rng.choice(candidates))
    return result
