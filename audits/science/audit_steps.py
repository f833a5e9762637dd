"""One item's counterfactual audit as a sequence of batched model steps.

The online scheduler runs the steps one at a time (so production work can cut in between);
the offline runner runs them back to back. Either way every condition of the item goes to the
model as one batch per step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from PIL import Image

from audits.contracts.backend import VLMBackend, VLMInput
from audits.contracts.types import AuditMode, Condition, ConditionOutcome, ItemFlags
from audits.science.answer_extraction import final_answer, question_kind
from audits.science.conditions import ConditionSkipped, ImageSources, definition_of
from audits.science.flags import compute_flags
from audits.science.parsing import answer_prefill, written_answer

Step = Callable[[VLMBackend], None]

YES_NO = ("yes", "no")


@dataclass
class ItemAuditSpec:
    question: str
    image: Image.Image
    conditions: tuple[Condition, ...]
    """Counterfactual conditions to run (real always runs)."""
    mode: AuditMode = "both"
    options: Mapping[str, str] | None = None
    answer_set: Sequence[str] | None = None
    """The admissible answers of a closed question without letters (``question_kind``)."""
    shuffled_image: Image.Image | None = None
    shuffled_skip_reason: str = "no other image available"
    real_output: str | None = None
    """The production output; when given the real condition is not generated again."""
    reference: str | None = None


@dataclass
class ItemAuditResult:
    outcomes: dict[Condition, ConditionOutcome]
    flags: ItemFlags
    timings_ms: dict[str, float]
    duration_ms: float


def score_candidates(answer: str, options: Mapping[str, str] | None) -> dict[str, str]:
    """Closed-question candidates as {normalized answer: text to score}; empty for open ones.

    Options are scored as letters when the model answered with a letter, else as option texts.
    A yes/no answer without options makes yes/no the candidates.
    """
    if options:
        if answer in options:
            return {letter: letter for letter in options}
        return {letter: text for letter, text in options.items()}
    if answer in YES_NO:
        return {word: word for word in YES_NO}
    return {}


@dataclass
class ItemAuditRun:
    spec: ItemAuditSpec
    outputs: dict[Condition, str] = field(default_factory=dict)
    logps: dict[Condition, float] = field(default_factory=dict)
    option_logps: dict[Condition, dict[str, float]] = field(default_factory=dict)
    skipped: dict[Condition, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    _started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.inputs = self._condition_inputs()
        if self.spec.real_output is not None:
            self.outputs[Condition.REAL] = self.spec.real_output

    def _condition_inputs(self) -> dict[Condition, VLMInput]:
        spec = self.spec
        inputs = {Condition.REAL: VLMInput(spec.question, spec.image)}
        sources = ImageSources(spec.image, spec.shuffled_image, spec.shuffled_skip_reason)
        for condition in spec.conditions:
            try:
                image = definition_of(condition).image(sources)
            except ConditionSkipped as skipped:
                self.skipped[condition] = skipped.reason
                continue
            inputs[condition] = VLMInput(spec.question, image)
        return inputs

    def steps(self) -> Iterator[Step]:
        if self.spec.mode in ("generate", "both") or Condition.REAL not in self.outputs:
            yield self._generate
        if self.spec.mode in ("score", "both"):
            yield self._score

    def _to_generate(self) -> list[Condition]:
        return [
            condition
            for condition in self.inputs
            if condition not in self.outputs
            and (self.spec.mode != "score" or condition is Condition.REAL)
        ]

    def pending_generation(self) -> list[VLMInput]:
        """The inputs the generate step will ask for (so a caller can batch them ahead)."""
        return [self.inputs[c] for c in self._to_generate()]

    def _generate(self, backend: VLMBackend) -> None:
        started = time.perf_counter()
        wanted = self._to_generate()
        texts = backend.generate([self.inputs[c] for c in wanted])
        self.outputs.update(zip(wanted, texts, strict=True))
        self.timings_ms["generate"] = (time.perf_counter() - started) * 1000

    def _score(self, backend: VLMBackend) -> None:
        started = time.perf_counter()
        production = self.outputs[Condition.REAL]
        answer = final_answer(
            production,
            self.spec.options,
            kind=question_kind(
                self.spec.question, self.spec.options, self.spec.reference, self.spec.answer_set
            ),
            question=self.spec.question,
            answer_set=self.spec.answer_set,
        )
        candidates = score_candidates(answer, self.spec.options)
        # After reasoning, each answer is scored conditioned on that reasoning: the production
        # reasoning is the start of the assistant turn (teacher-forced), so the score is
        # log p(answer | prompt, reasoning) and a change of image that moves only the reasoning
        # is not a likelihood shift of the answer.
        prefill = answer_prefill(production)
        written = production[len(prefill) :]
        # the production answer is scored as its candidate row when it is written exactly so
        own = candidates.get(answer)
        production_answer = own if own is not None and written_answer(written) == own else written
        texts = list(dict.fromkeys([*candidates.values(), production_answer]))
        inputs = {c: replace(item, prefill=prefill) for c, item in self.inputs.items()}
        rows = [(condition, text) for condition in inputs for text in texts]
        values = backend.score([inputs[c] for c, _ in rows], [text for _, text in rows])
        scored = dict(zip(rows, values, strict=True))
        for condition in inputs:
            self.logps[condition] = scored[(condition, production_answer)]
            if candidates:
                self.option_logps[condition] = {
                    key: scored[(condition, text)] for key, text in candidates.items()
                }
        self.timings_ms["score"] = (time.perf_counter() - started) * 1000

    def execute(self, backend: VLMBackend) -> None:
        """Every step, back to back (offline)."""
        for step in self.steps():
            step(backend)

    def run_all(self, backend: VLMBackend) -> ItemAuditResult:
        self.execute(backend)
        return self.result()

    def outcomes(self) -> dict[Condition, ConditionOutcome]:
        """What the model did under each condition (no flags: the offline runner computes them
        once, from the stored outcomes, when it writes the report)."""
        outcomes: dict[Condition, ConditionOutcome] = {}
        for condition in (Condition.REAL, *self.spec.conditions):
            if condition in self.skipped:
                outcomes[condition] = ConditionOutcome(
                    condition=condition, skipped=True, skip_reason=self.skipped[condition]
                )
                continue
            has_generated = condition is Condition.REAL or self.spec.mode != "score"
            outcomes[condition] = ConditionOutcome(
                condition=condition,
                output=self.outputs.get(condition) if has_generated else None,
                logp=self.logps.get(condition),
                option_logps=self.option_logps.get(condition) or None,
            )
        return outcomes

    def result(self) -> ItemAuditResult:
        outcomes = self.outcomes()
        flags = compute_flags(
            outcomes,
            options=self.spec.options,
            reference=self.spec.reference,
            question=self.spec.question,
            answer_set=self.spec.answer_set,
        )
        duration = (time.perf_counter() - self._started) * 1000
        return ItemAuditResult(outcomes, flags, dict(self.timings_ms), duration)
