"""The offline runner: every item of a manifest under real, shuffled, blank and no_image.

``run_audit`` turns a manifest into ``<out>/results.jsonl`` (one line per item: every
condition's outcome, fsynced as it is written) and the reports of ``audits.report``. The
per-item work is ``audits.item_audit.ItemAuditRun``, the very code the online service runs;
flags and metrics are recomputed from the stored outcomes, so a report only depends on them.

- Shuffled: a seeded derangement over the manifest's rows keyed by the image file's SHA-256, so
  an item is never paired with its own image nor an identical one.
- Resumable: lines already in ``results.jsonl`` are kept and their items skipped; a half-written
  last line is cut off. ``run.json`` records the settings; resuming with other ones is refused.
- Batching (local model): the generate calls of ``batch_items`` consecutive items go to the
  model as one batch; groups are fixed by manifest position and a group is always recomputed as
  a whole, so a resumed run batches exactly like an uninterrupted one. Score calls stay per item.
- Optional extras for a local model: text stress tests for option questions (Wrong-Caption,
  Wrong-Think, P_base, letter entropy, faithfulness) and Acc@1 / Pass@K from K sampled outputs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from itertools import groupby
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from audits.backend import VLMBackend, VLMInput
from audits.counterfactuals import seeded_derangement
from audits.flags import compute_flags
from audits.item_audit import AuditMode, ItemAuditRun, ItemAuditSpec
from audits.manifest import ManifestItem, read_manifest
from audits.metrics import OVERALL, AuditMetrics, Rate, compute_metrics
from audits.parsing import normalize_answer
from audits.report import fmt_diff, fmt_rate, write_reports
from audits.textstress import (
    LetterSummary,
    SampledAccuracy,
    StressResult,
    faithfulness_rate,
    is_correct,
    letter_summary,
    option_question_prompt,
    sampled_accuracy,
    stress_deltas,
    wrong_caption_prompt,
    wrong_letter_for,
    wrong_think_prefill,
)
from audits.types import COUNTERFACTUALS, Condition, ConditionOutcome, ItemAudit

log = logging.getLogger(__name__)

RESULTS_NAME = "results.jsonl"
SETTINGS_NAME = "run.json"
DEFAULT_BATCH_ITEMS = 4
NO_PARTNER = "no other image in the manifest"


class RunMismatchError(ValueError):
    """The output folder holds results of a run with other settings."""


# --- records --------------------------------------------------------------------------------


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


@dataclass
class AuditRunResult:
    metrics: AuditMetrics
    items: list[ItemAudit]
    """Audited items in manifest order."""
    paths: dict[str, Path]
    ran: int
    """Items audited by this call (including recomputed members of incomplete groups)."""
    resumed: int
    """Items whose results were taken from an earlier run."""
    text_stress: dict[str, StressSummary] | None = None
    sampling: dict[str, SampledAccuracy] | None = None


# --- the local model ------------------------------------------------------------------------


class _PrefetchedBackend:
    """Serves greedy generate calls from outputs computed beforehand in one batch.

    Anything not prefetched (and every score call) goes to the wrapped backend, so results
    never depend on the prefetch list being complete, only the batching does.
    """

    def __init__(self, backend: VLMBackend, inputs: Sequence[VLMInput]) -> None:
        self.model_name = backend.model_name
        self._backend = backend
        texts = backend.generate(inputs) if inputs else []
        self._table = {id(item): text for item, text in zip(inputs, texts, strict=True)}
        self._keep = list(inputs)  # ids stay valid while the table lives

    def generate(
        self,
        items: Sequence[VLMInput],
        *,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[str]:
        greedy = max_new_tokens is None and temperature == 0.0
        if greedy and all(id(item) in self._table for item in items):
            return [self._table[id(item)] for item in items]
        return self._backend.generate(
            items, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
        )

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return self._backend.score(items, answers)

    def prefetched(self, item: VLMInput) -> str:
        return self._table[id(item)]


def _pending_generation(run: ItemAuditRun) -> list[VLMInput]:
    """The inputs ``run``'s generate step will ask for (mirrors ``ItemAuditRun._generate``)."""
    return [
        item
        for condition, item in run.inputs.items()
        if condition not in run.outputs
        and (run.spec.mode != "score" or condition is Condition.REAL)
    ]


