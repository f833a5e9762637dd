"""Auditing on an in-process model: ``LocalAuditor`` and its batching and extras.

- Batching: the generate calls of ``batch_items`` consecutive items go to the model as one
  batch (``_PrefetchedBackend``); score calls stay per item.
- Optional extras: text stress tests for option questions (Wrong-Caption, Wrong-Think, letter
  log-probabilities) and K outputs sampled for Pass@K, with a seed fixed per manifest position.

The per-item work is ``audits.science.audit_steps.ItemAuditRun``, the very code the online
service runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby

from PIL import Image

from audits.contracts.backend import VLMBackend, VLMInput
from audits.contracts.types import Condition
from audits.data.images import load_image
from audits.offline.run_records import AuditJob, ItemRecord, StressRecord
from audits.science.audit_steps import ItemAuditRun, ItemAuditSpec
from audits.science.parsing import normalize_answer
from audits.science.textstress import (
    option_question_prompt,
    wrong_caption_prompt,
    wrong_letter_for,
    wrong_think_prefill,
)

DEFAULT_BATCH_ITEMS = 4


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


@dataclass(frozen=True)
class _StressInputs:
    letters: tuple[str, ...]
    correct_letter: str
    wrong_letter: str
    base: VLMInput
    wrong_caption: VLMInput
    wrong_think: VLMInput
    prefill: str


def letter_options(options: Mapping[str, str] | None) -> dict[str, str] | None:
    """Options keyed by single upper-case letters (at least two of them), else None."""
    if not options:
        return None
    keyed = {k.strip().upper(): v for k, v in options.items()}
    if len(keyed) < 2 or not all(len(k) == 1 and k.isalpha() for k in keyed):
        return None
    return keyed


def _stress_inputs(job: AuditJob, image: Image.Image) -> _StressInputs | None:
    """Wrong-Caption / Wrong-Think inputs of an option question whose reference is an option."""
    options = letter_options(job.item.options)
    if options is None:
        return None
    correct = normalize_answer(job.item.answer, options)
    if correct not in options:
        return None
    wrong = wrong_letter_for(options, correct)
    prefill = wrong_think_prefill(options, wrong)
    base = option_question_prompt(job.item.question, options)
    return _StressInputs(
        letters=tuple(sorted(options)),
        correct_letter=correct,
        wrong_letter=wrong,
        base=VLMInput(base, image),
        wrong_caption=VLMInput(wrong_caption_prompt(job.item.question, options, wrong), image),
        wrong_think=VLMInput(base, image, prefill=prefill),
        prefill=prefill,
    )


def _sample_seed(seed: int, index: int) -> int:
    """Sampling seed of one item: fixed by the run's seed and the item's manifest position."""
    digest = hashlib.sha256(f"pass-at-k:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


class LocalAuditor:
    """Audits jobs on an in-process ``VLMBackend``, ``batch_items`` items per generate call."""

    def __init__(
        self,
        backend: VLMBackend,
        *,
        batch_items: int = DEFAULT_BATCH_ITEMS,
        stress: bool = False,
        pass_k: int = 0,
        temperature: float = 0.7,
        seed: int = 0,
        image_cache: int = 64,
    ) -> None:
        if batch_items < 1:
            raise ValueError("batch_items must be at least 1")
        if pass_k < 0:
            raise ValueError("pass_k must not be negative")
        self.backend = backend
        self.model_name = backend.model_name
        self.group_size = batch_items
        self.stress = stress
        self.pass_k = pass_k
        self.temperature = temperature
        self.seed = seed
        self._load = lru_cache(maxsize=max(image_cache, 4 * batch_items))(load_image)

    def audit(self, jobs: Iterable[AuditJob]) -> Iterator[ItemRecord]:
        for _, group in groupby(jobs, key=lambda job: job.index // self.group_size):
            yield from self._audit_group(list(group))

    def _spec(self, job: AuditJob) -> ItemAuditSpec:
        shuffled = self._load(job.shuffled_image) if job.shuffled_image else None
        return ItemAuditSpec(
            question=job.question,
            image=self._load(job.item.image),
            conditions=job.conditions,
            mode=job.mode,
            options=job.item.options,
            answer_set=job.item.answer_set,
            shuffled_image=shuffled,
            shuffled_skip_reason=job.shuffled_skip_reason,
            reference=job.item.answer,
        )

    def _audit_group(self, jobs: Sequence[AuditJob]) -> list[ItemRecord]:
        runs = [ItemAuditRun(self._spec(job)) for job in jobs]
        stress = [
            _stress_inputs(job, run.spec.image) if self.stress else None
            for job, run in zip(jobs, runs, strict=True)
        ]
        wanted = [item for run in runs for item in run.pending_generation()]
        wanted += [x for s in stress if s is not None for x in (s.wrong_caption, s.wrong_think)]
        backend = _PrefetchedBackend(self.backend, wanted)
        records = []
        for job, run, extra in zip(jobs, runs, stress, strict=True):
            run.execute(backend)
            record = ItemRecord(
                index=job.index,
                id=job.item.id,
                shuffled_partner=job.shuffled_partner if job.shuffled_image else None,
                outcomes=run.outcomes(),
                timings_ms=dict(run.timings_ms),
            )
            if extra is not None:
                record.stress = self._stress_record(backend, extra)
            if self.pass_k > 0:
                real = run.inputs[Condition.REAL]
                record.samples = self.backend.generate(
                    [real] * self.pass_k,
                    temperature=self.temperature,
                    seed=_sample_seed(self.seed, job.index),
                )
            records.append(record)
        return records

    def _stress_record(self, backend: _PrefetchedBackend, extra: _StressInputs) -> StressRecord:
        letters = list(extra.letters)
        scores = self.backend.score([extra.base] * len(letters), letters)
        return StressRecord(
            correct_letter=extra.correct_letter,
            wrong_letter=extra.wrong_letter,
            wrong_caption_output=backend.prefetched(extra.wrong_caption),
            wrong_think_output=extra.prefill + backend.prefetched(extra.wrong_think),
            letter_logps=dict(zip(letters, scores, strict=True)),
        )
