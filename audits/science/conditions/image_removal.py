"""The three counterfactuals that replace or remove the real image (DESIGN.md section 3):
``shuffled`` (another patient's image), ``blank`` (uniform gray) and ``no_image``."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from audits.contracts.types import Condition
from audits.science.conditions.registry import (
    ConditionCheck,
    ConditionSkipped,
    ImageSources,
    Role,
    register_condition,
)

BLANK_RGB = (128, 128, 128)


def blank_like(image: Image.Image) -> Image.Image:
    """A uniform gray RGB image of the real image's size."""
    return Image.new("RGB", image.size, BLANK_RGB)


def _another_patients(sources: ImageSources) -> Image.Image | None:
    if sources.shuffled is None:
        raise ConditionSkipped(sources.shuffled_skip_reason)
    return sources.shuffled


def _blank(sources: ImageSources) -> Image.Image | None:
    return blank_like(sources.real)


def _none(sources: ImageSources) -> Image.Image | None:
    return None


@dataclass(frozen=True)
class _ImageRemoval:
    """Scored against the real image's reference: an answer that survives without the image
    is what the accuracies under these conditions measure."""

    condition: Condition
    shows: str
    colour: str
    make_image: Callable[[ImageSources], Image.Image | None]
    role: Role = "counterfactual"
    default: bool = True

    def image(self, sources: ImageSources) -> Image.Image | None:
        return self.make_image(sources)

    def reference_under(self, reference: str) -> str:
        return reference

    def checks(self) -> Sequence[ConditionCheck]:
        return ()


SHUFFLED = register_condition(
    _ImageRemoval(Condition.SHUFFLED, "another patient's image", "#d62728", _another_patients)
)
BLANK = register_condition(
    _ImageRemoval(Condition.BLANK, "a uniform gray image", "#7f7f7f", _blank)
)
NO_IMAGE = register_condition(_ImageRemoval(Condition.NO_IMAGE, "no image", "#ff7f0e", _none))


def seeded_derangement(image_keys: Sequence[str], seed: int) -> list[int]:
    """For each position, the index of another item whose image differs (key = content id):
    the offline shuffled partners.

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
