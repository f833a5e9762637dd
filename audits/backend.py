"""The small protocol every model backend implements: a local runtime or a deployed service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image


@dataclass(frozen=True)
class VLMInput:
    """One model call: a question with an image, or with none (the no_image condition)."""

    question: str
    image: Image.Image | None = None
    prefill: str = ""
    """Text the assistant turn starts with (e.g. a pre-filled reasoning block)."""


class VLMBackend(Protocol):
    model_name: str

    def generate(
        self,
        items: Sequence[VLMInput],
        *,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[str]: ...

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]: ...
