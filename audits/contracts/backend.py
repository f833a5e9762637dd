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


class GenerationInterrupted(RuntimeError):
    """``generate`` stopped early because ``should_stop`` said so; no output was kept."""


class VLMBackend(Protocol):
    """A backend may also set ``supports_preemption = True`` and accept ``should_stop`` in
    ``generate``: a callable polled between decoding steps; when it returns True the call
    raises ``GenerationInterrupted``."""

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
