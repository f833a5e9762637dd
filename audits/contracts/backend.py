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


@dataclass(frozen=True)
class GenerationParams:
    """How one production call decodes; ``None`` means the backend's own default."""

    max_new_tokens: int | None = None
    temperature: float = 0.0
    """0 is greedy (deterministic)."""
    seed: int | None = None


@dataclass(frozen=True)
class Generation:
    """One generated output with what an OpenAI-style ``usage`` needs (None when unknown)."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"
    """``stop`` (end of turn) or ``length`` (the token budget ran out)."""


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


def generate_detailed(
    backend: VLMBackend, items: Sequence[VLMInput], params: GenerationParams
) -> list[Generation]:
    """Outputs with token counts where the backend can give them (``generate_detailed``),
    else the plain texts."""
    detailed = getattr(backend, "generate_detailed", None)
    if callable(detailed):
        return detailed(items, params)
    if params == GenerationParams():
        texts = backend.generate(items)
    else:
        texts = backend.generate(
            items,
            max_new_tokens=params.max_new_tokens,
            temperature=params.temperature,
            seed=params.seed,
        )
    return [Generation(text) for text in texts]
