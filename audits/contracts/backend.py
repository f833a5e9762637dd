"""The small protocol every model backend implements: a local runtime or a deployed service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
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


@dataclass(frozen=True)
class BackendCapabilities:
    """What a backend can do, declared by the backend: the engines, the service and the CLI
    read this, and never guess from attributes."""

    generate: bool = True
    """Generates answers (the audits' generate mode)."""
    score: bool = True
    """Scores an answer: its teacher-forced log-probability (the audits' score mode)."""
    batch: bool = True
    """Takes many items in one call; without it each production call gets one item."""
    concurrent: bool = False
    """Calls may overlap: the model runs elsewhere and schedules its own requests (an
    OpenAI-compatible server), so the service forwards production at once instead of owning a
    model thread."""
    priority: bool = False
    """Requests may carry a priority the server can schedule by (vLLM's ``priority``): audits
    are sent at a lower one."""
    preemption: bool = False
    """``generate`` accepts ``should_stop``, a callable polled between decoding steps: True
    stops the call with ``GenerationInterrupted``. ``should_stop`` may itself run other calls on
    the backend (the engine serves production there); the backend keeps what its model holds
    between decoding steps, so the interrupted-then-continued generation is unchanged."""
    max_image_pixels: int | None = None
    """Pixels of the largest image the model consumes (its processor scales bigger ones down);
    None when not known."""


class VLMBackend(Protocol):
    """A model the audits and the service call: declared capabilities, a label, generate and
    score, and ``close`` for what it holds. ``BackendBase`` gives the defaults."""

    model_name: str

    @property
    def capabilities(self) -> BackendCapabilities: ...

    def generate(
        self,
        items: Sequence[VLMInput],
        *,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[str]: ...

    def generate_detailed(
        self, items: Sequence[VLMInput], params: GenerationParams
    ) -> list[Generation]: ...

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]: ...

    def close(self) -> None: ...


class BackendBase:
    """A backend's defaults: generate and score in batches, nothing more
    (``BackendCapabilities()``); ``generate_detailed`` without token counts; nothing to close.
    A backend subclasses it, implements ``generate`` and ``score`` and declares what else it
    can do."""

    model_name: str
    capabilities: BackendCapabilities = BackendCapabilities()

    def generate_detailed(
        self, items: Sequence[VLMInput], params: GenerationParams
    ) -> list[Generation]:
        """The outputs of ``generate`` (which the subclass implements), without token counts
        (a backend that knows them overrides this)."""
        generate = self.generate  # type: ignore[attr-defined]
        default = params == GenerationParams()  # a backend may take no decoding arguments
        texts = generate(items) if default else generate(items, **asdict(params))
        return [Generation(text) for text in texts]

    def close(self) -> None:
        """Release what the backend holds (threads, connections); nothing by default."""
