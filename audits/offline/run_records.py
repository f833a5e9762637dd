"""What the offline runner stores and passes around: run settings, result records, audit jobs.

``ItemRecord`` is one line of ``results.jsonl``; ``RunSettings`` is stored in ``run.json``;
``AuditJob`` is one item as handed to an ``Auditor`` (a local model or a deployed service).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from audits.contracts.types import AuditMode, Condition, ConditionOutcome
from audits.data.manifest import ManifestItem

NO_PARTNER = "no other image in the manifest"


class RunMismatchError(ValueError):
    """The output folder holds results of a run with other settings."""


class RunSettings(BaseModel):
    """Everything that changes the stored outcomes; a resumed run must match it."""

    model_config = ConfigDict(frozen=True)

    manifest_sha256: str
    seed: int
    mode: AuditMode
    conditions: list[Condition]
    options_in_prompt: bool
    stress: bool
    pass_k: int
    temperature: float | None
    """Sampling temperature of Pass@K (None when pass_k is 0)."""


class StressRecord(BaseModel):
    """Raw outputs of the text stress tests of one option question (real image throughout)."""

    correct_letter: str
    wrong_letter: str
    wrong_caption_output: str
    wrong_think_output: str
    """The pre-filled reasoning followed by the model's continuation."""
    letter_logps: dict[str, float]
    """Log-probability of each option letter as the answer to the base prompt."""


class ItemRecord(BaseModel):
    """One line of ``results.jsonl``."""

    index: int
    """Position in the manifest."""
    id: str
    shuffled_partner: str | None = None
    """Id of the item whose image was the shuffled image."""
    outcomes: dict[Condition, ConditionOutcome]
    stress: StressRecord | None = None
    samples: list[str] | None = None
    """Pass@K: outputs sampled at the run's temperature for the real condition."""
    timings_ms: dict[str, float] = Field(default_factory=dict)


@dataclass(frozen=True)
class AuditJob:
    """One manifest item to audit, with its partner for the shuffled condition."""

    index: int
    item: ManifestItem
    question: str
    """The prompt text the model sees (option questions list their options)."""
    conditions: tuple[Condition, ...]
    mode: AuditMode
    shuffled_image: str | None
    """Path of the partner's image; None when the shuffled condition has no partner."""
    shuffled_partner: str | None
    shuffled_skip_reason: str = NO_PARTNER


@runtime_checkable
class Auditor(Protocol):
    """Runs audit jobs somewhere (a local model, a deployed service) and yields their records.

    Records come back in the order of the jobs. ``group_size`` > 1 means items are batched
    together in groups of that many consecutive manifest positions.
    """

    model_name: str
    group_size: int

    def audit(self, jobs: Iterable[AuditJob]) -> Iterator[ItemRecord]: ...
