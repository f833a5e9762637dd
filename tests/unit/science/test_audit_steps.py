"""Score mode after reasoning: each candidate answer is scored after the model's own reasoning
(teacher-forced), and the reasoning's own likelihood is taken out, so a change of image that
moves only the reasoning is not a likelihood shift of the answer."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from PIL import Image

from audits.contracts.backend import VLMInput
from audits.contracts.types import Condition
from audits.science.audit_steps import ItemAuditRun, ItemAuditSpec
from audits.science.parsing import answer_prefill

REASONING = "<think>Frontal chest radiograph. A small round opacity in the left lung.</think>"
PRODUCTION = f"{REASONING}<answer>yes</answer>"
PREFILL = f"{REASONING}<answer>"


def test_answer_prefill_is_the_output_up_to_its_tagged_answer() -> None:
    assert answer_prefill(PRODUCTION) == f"{REASONING}<answer>"
    assert answer_prefill("<think>x</think><answer>no") == "<think>x</think><answer>"
    assert answer_prefill("<answer>B</answer>") == "<answer>"
    for untagged in ("yes", "Answer: B", "The image shows a mass. Answer: yes", "", None):
        assert answer_prefill(untagged) == ""


class AnswerAfterReasoningBackend:
    """A backend whose reasoning is far likelier under the real image (-1 per character) than
    under any other (-3), while the answer after it costs the same under every image. ``score``
    is log p(answer | prompt, prefill), as a real backend's; it records what it was asked."""

    model_name = "fake"

    def __init__(self, real: Image.Image) -> None:
        self.real = real
        self.scored: list[tuple[str, str]] = []

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        return [PRODUCTION for _ in items]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        self.scored += [(item.prefill, answer) for item, answer in zip(items, answers, strict=True)]
        values = []
        for item, text in zip(items, answers, strict=True):
            per_char = -1.0 if item.image is self.real else -3.0
            reasoning = text[: len(PREFILL)] if text.startswith(PREFILL) else ""
            answer = text[len(reasoning) :]
            answer_logp = 0.0 if not answer else -0.1 if answer.startswith("yes") else -2.0
            values.append(per_char * len(reasoning) + answer_logp)
        return values


def _run(production: str, real: Image.Image, other: Image.Image) -> tuple:
    backend = AnswerAfterReasoningBackend(real)
    spec = ItemAuditSpec(
        question="Is there a lesion?",
        image=real,
        conditions=(Condition.SHUFFLED,),
        mode="score",
        shuffled_image=other,
        real_output=production,
    )
    return ItemAuditRun(spec).run_all(backend), backend


def test_a_reasoning_output_is_scored_after_its_reasoning_and_without_its_likelihood() -> None:
    real = Image.new("RGB", (8, 8), (200, 10, 10))
    other = Image.new("RGB", (8, 8), (10, 200, 10))
    result, backend = _run(PRODUCTION, real, other)
    # candidates are the answer words with the production reasoning as the assistant's start,
    # never bare words after the prompt, and the reasoning itself is never scored
    assert set(backend.scored) == {(PREFILL, "yes"), (PREFILL, "no")} and len(backend.scored) == 4
    shuffled = result.outcomes[Condition.SHUFFLED]
    real_outcome = result.outcomes[Condition.REAL]
    # the reasoning is far less likely under the other image, the answer after it is not
    for outcome in (real_outcome, shuffled):
        assert outcome.option_logps == pytest.approx({"yes": -0.1, "no": -2.0})
        assert outcome.logp == pytest.approx(-0.1)
    assert result.flags.flips.get(Condition.SHUFFLED) is False


def test_an_answer_written_otherwise_than_its_candidate_gets_its_own_row() -> None:
    real = Image.new("RGB", (8, 8), (200, 10, 10))
    other = Image.new("RGB", (8, 8), (10, 200, 10))
    production = f"{PREFILL}yes, a small nodule</answer>"
    _, backend = _run(production, real, other)
    assert (PREFILL, "yes, a small nodule</answer>") in backend.scored
    assert len(backend.scored) == 6  # yes, no and the written answer, under two images
    untagged, untagged_backend = _run("Yes.", real, other)
    assert ("", "Yes.") in untagged_backend.scored and ("", "yes") in untagged_backend.scored
    assert untagged.outcomes[Condition.REAL].logp == pytest.approx(-2.0)  # "Yes." != "yes"
