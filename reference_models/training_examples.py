"""The rows a reference model is trained and evaluated on: each with its image loaded
(``audits.data.images.load_image``) and the target the model is trained to write (the answer,
or reasoning and answer in the ``<think>``/``<answer>`` format)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from audits.data.images import load_image
from audits.data.manifest import ManifestItem, read_manifest
from audits.data.phantom import read_cases
from audits.data.phantom_reasoning import (
    ReasoningStyle,
    Shown,
    reasoning_items,
    target_output,
)
from audits.science.conditions.image_removal import blank_like

COUNTERFACTUAL_SHARE = 0.3
"""Share of images that also get a question asked of their gray blank, and one with no image."""


@dataclass(frozen=True)
class Example:
    question: str
    answer: str
    """The reference answer (what the image shows)."""
    image: Image.Image
    image_key: str
    target: str
    """What the model is trained to write: the answer, or reasoning and answer."""
    skeptic: bool = False
    """A wrong-modality question ("Is there a lesion on this CT?" of a radiograph)."""
    shown: Shown = "image"
    """What the row shows the model: the image, its gray blank, or no image."""

    def model_image(self, *, blank: bool) -> Image.Image | None:
        """The image the model is given for this row (``blank``: the recipe's blanks)."""
        if self.shown == "no_image":
            return None
        return blank_like(self.image) if blank or self.shown == "blank" else self.image


def load_examples(manifest: Path, rows: Sequence[ManifestItem] | None = None) -> list[Example]:
    """Rows with their images loaded (each image file read once)."""
    manifest = Path(manifest)
    rows = read_manifest(manifest) if rows is None else rows
    cache: dict[str, Image.Image] = {}
    examples = []
    for row in rows:
        if row.image not in cache:
            cache[row.image] = load_image(manifest.parent / row.image)
        image = cache[row.image]
        examples.append(Example(row.question, row.answer, image, row.image, target=row.answer))
    return examples


def load_reasoning_examples(
    manifest: Path, style: ReasoningStyle, seed: int, *, image_blind: bool = False
) -> list[Example]:
    """The phantom's questions (plus seeded wrong-modality ones, and counterfactual rows) with
    reasoning targets.

    Phrasing is drawn per row from a seeded generator, so a row keeps its target across epochs.
    ``image_blind`` (a recipe trained on blanks): the target never depends on what is shown,
    since the model is never shown anything.
    """
    cases = read_cases(manifest)
    images: dict[str, Image.Image] = {}
    examples = []
    items = reasoning_items(cases, seed=seed, counterfactual_share=COUNTERFACTUAL_SHARE)
    for index, item in enumerate(items):
        if item.image_key not in images:
            images[item.image_key] = load_image(item.image_key)
        rng = np.random.default_rng([seed, 6, index])
        examples.append(
            Example(
                item.question,
                item.answer,
                images[item.image_key],
                item.image_key,
                target=target_output(
                    item.case, item.question, style, rng, "image" if image_blind else item.shown
                ),
                skeptic=item.skeptic,
                shown=item.shown,
            )
        )
    return examples


def split_by_image(
    examples: Sequence[Example], seed: int, share: float = 0.1
) -> tuple[list[Example], list[Example]]:
    """Hold out a seeded share of the images (with all their rows); returns (train, heldout)."""
    keys = sorted({example.image_key for example in examples})
    if len(keys) < 2:
        raise ValueError("a held-out split needs at least two images")
    count = min(len(keys) - 1, max(1, round(share * len(keys))))
    rng = np.random.default_rng([seed, 7])
    held = {keys[i] for i in rng.choice(len(keys), size=count, replace=False)}
    train = [example for example in examples if example.image_key not in held]
    heldout = [example for example in examples if example.image_key in held]
    return train, heldout
