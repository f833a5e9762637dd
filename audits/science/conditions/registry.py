"""The registry of audited conditions: each one is a definition registered once (how its image
is made, what it replaced the real image with, which answer a grounded model gives under it,
its own per-item checks); the item audit, the flags, the reports, the counters and the
settings read it from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from PIL import Image

from audits.contracts.types import CheckResult, Condition
from audits.science.answer_extraction import Kind

Role = Literal["counterfactual", "metamorphic"]
"""``counterfactual``: the image is replaced or removed, so a grounded answer may change and an
unchanged one counts towards image invariance. ``metamorphic``: the image is transformed with a
known effect on the right answer (``flipped``); it never counts towards image invariance."""


class ConditionSkipped(Exception):
    """A condition that cannot run for this item (e.g. no other image to shuffle in)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageSources:
    """What a condition's image may be made from."""

    real: Image.Image
    shuffled: Image.Image | None = None
    """Another item's image (offline: a seeded derangement; online: the shuffle pool)."""
    shuffled_skip_reason: str = "no other image available"


class AnswerContext(Protocol):
    """The per-item answers a condition's own checks read (``flags.FlagContext``)."""

    answers: dict[Condition, str]
    options: Mapping[str, str] | None
    question: str | None
    kind: Kind | None

    def flip(self, condition: Condition) -> bool | None: ...


class ConditionCheck(Protocol):
    name: str

    def check(self, ctx: AnswerContext) -> CheckResult: ...


class ConditionDefinition(Protocol):
    condition: Condition
    role: Role
    shows: str
    """What the model saw instead of the real image, in words ("a uniform gray image")."""
    colour: str
    """Its colour in the report's charts."""
    default: bool
    """Audited unless the operator chooses the conditions."""

    def image(self, sources: ImageSources) -> Image.Image | None:
        """The image the model sees (None: the question alone); raises ``ConditionSkipped``."""
        ...

    def reference_under(self, reference: str) -> str:
        """The right answer under this condition, given the right answer on the real image."""
        ...

    def checks(self) -> Sequence[ConditionCheck]:
        """Per-item checks of its own, beyond the flip and likelihood-shift checks."""
        ...


_CONDITIONS: dict[Condition, ConditionDefinition] = {}


def register_condition(definition: ConditionDefinition) -> ConditionDefinition:
    if definition.condition is Condition.REAL:
        raise ValueError("the real condition is the item itself, not a registered condition")
    _CONDITIONS[definition.condition] = definition
    return definition


def definition_of(condition: Condition | str) -> ConditionDefinition:
    try:
        return _CONDITIONS[Condition(condition)]
    except (KeyError, ValueError):
        raise KeyError(
            f"unknown condition {condition!r}; registered: {', '.join(registered_names())}"
        ) from None


def registered() -> tuple[ConditionDefinition, ...]:
    """Every registered condition, in the order of ``Condition``."""
    return tuple(_CONDITIONS[c] for c in Condition if c in _CONDITIONS)


def registered_names() -> tuple[str, ...]:
    return tuple(d.condition.value for d in registered())


def counterfactual_conditions() -> tuple[Condition, ...]:
    """The conditions that replace or remove the image (image invariance is over these)."""
    return tuple(d.condition for d in registered() if d.role == "counterfactual")


def default_conditions() -> tuple[Condition, ...]:
    """What is audited unless the operator chooses (``GROUNDING_AUDIT_CONDITIONS``,
    ``--conditions``)."""
    return tuple(d.condition for d in registered() if d.default)


def shown_instead(condition: Condition) -> str:
    return definition_of(condition).shows


def colours() -> Mapping[Condition, str]:
    return {d.condition: d.colour for d in registered()}
