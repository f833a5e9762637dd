"""Realistic request payloads built in memory: phantom scans and the questions asked of them.

The images come from the same renderer as the phantom data set (x-ray-like and CT-like scans,
with and without a lesion), so the reference models answer them as they would in production.
"""

from __future__ import annotations

import base64
import io
import random
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from PIL import Image

from audits.data.phantom import (
    DEFAULT_IMAGE_SIDE,
    LESION_QUESTION,
    MODALITY_QUESTION,
    SIDE_QUESTION,
    PhantomCase,
    render_phantom,
)

CLOSED_QUESTION = "Is there a lesion in this scan?"
CLOSED_OPTIONS = {"A": "yes", "B": "no"}


@dataclass(frozen=True)
class Question:
    text: str
    options: dict[str, str] | None = None


QUESTIONS: tuple[Question, ...] = (
    Question(LESION_QUESTION),
    Question(SIDE_QUESTION),
    Question(MODALITY_QUESTION),
    Question(CLOSED_QUESTION, CLOSED_OPTIONS),
)

CASES: tuple[PhantomCase, ...] = (
    PhantomCase(modality="xray", lesion="left"),
    PhantomCase(modality="xray", lesion=None),
    PhantomCase(modality="ct", lesion="right"),
    PhantomCase(modality="ct", lesion=None),
    PhantomCase(modality="xray", lesion="right"),
    PhantomCase(modality="ct", lesion="left"),
)


@dataclass(frozen=True)
class ScanImage:
    name: str
    image: Image.Image = field(repr=False)
    png: bytes = field(repr=False)

    @cached_property
    def base64(self) -> str:
        return base64.b64encode(self.png).decode()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def phantom_images(
    count: int = len(CASES), seed: int = 0, side: int = DEFAULT_IMAGE_SIDE
) -> list[ScanImage]:
    """``count`` distinct phantom scans cycling through CASES; the same seed gives the same PNGs."""
    if count < 1:
        raise ValueError("count must be at least 1")
    scans = []
    for index in range(count):
        case = CASES[index % len(CASES)]
        rng = np.random.default_rng([seed, 7, index])
        image = render_phantom(case, rng, side)
        lesion = case.lesion or "none"
        scans.append(ScanImage(f"{case.modality}-{lesion}-{index}", image, png_bytes(image)))
    return scans


@dataclass(frozen=True)
class Payload:
    scan: ScanImage
    question: Question


class PayloadPool:
    """Random (scan, question) pairs from a fixed set of scans; seeded for repeatable runs."""

    def __init__(self, n_images: int = len(CASES), seed: int = 0) -> None:
        self.scans = phantom_images(n_images, seed)
        self._rng = random.Random(seed)

    def pick(self) -> Payload:
        return Payload(self._rng.choice(self.scans), self._rng.choice(QUESTIONS))

    def other_scan(self, scan: ScanImage) -> ScanImage:
        """A different scan (the shuffled-image counterfactual)."""
        others = [candidate for candidate in self.scans if candidate.name != scan.name]
        return self._rng.choice(others) if others else scan
