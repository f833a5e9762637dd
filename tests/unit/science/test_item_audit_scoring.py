"""Score mode after reasoning: each candidate answer is scored after the model's own reasoning
(teacher-forced), and the reasoning's own likelihood is taken out, so a change of image that
moves only the reasoning is not a likelihood shift of the answer."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from PIL import Image

from audits.contracts.backend import VLMInput
from audits.contracts.types import Condition
from audits.science.item_audit import ItemAuditRun, ItemAuditSpec
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


class ReasoningOnlyBackend:
    """log p(text) = -1 per character of reasoning under a real image, -3 under any other;
    the answer tokens cost the same under every image (the answer ignores the image)."""

    model_name = "fake"

    def __init__(self, real: Image.Image) -> None:
        self.real = real
        self.scored: list[str] = []

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        return [PRODUCTION for _ in items]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        self.scored += answers
        values = []
        for item, text in zip(items, answers, strict=True):
            per_char = -1.0 if item.image is self.real else -3.0
            reasoning = PREFILL if text.startswith(PREFILL) else ""
            answer = text[len(reasoning) :]
            answer_logp = 0.0 if not answer else -0.1 if answer.startswith("yes") else -2.0
            values.append(per_char * len(reasoning) + answer_logp)
        return values


def test_a_reasoning_output_is_scored_after_its_reasoning_and_without_its_likelihood() -> None:
    real = Image.new("RGB", (8, 8), (200, 10, 10))
    other = Image.new("RGB", (8, 8), (10, 200, 10))
    backend = ReasoningOnlyBackend(real)
    spec = ItemAuditSpec(
        question="Is there a lesion?",
        image=real,
        conditions=(Condition.SHUFFLED,),
        mode="score",
        shuffled_image=other,
        real_output=PRODUCTION,
    )
    result = ItemAuditRun(spec).run_all(backend)
    prefill = answer_prefill(PRODUCTION)
    # candidates are the answer words after the production reasoning, never bare words
    assert f"{prefill}yes" in backend.scored and f"{prefill}no" in backend.scored
    assert "yes" not in backend.scored and "no" not in backend.scored
    shuffled = result.outcomes[Condition.SHUFFLED]
    real_outcome = result.outcomes[Condition.REAL]
    # the reasoning is far less likely under the other image, the answer after it is not
    for outcome in (real_outcome, shuffled):
        assert outcome.option_logps == pytest.approx({"yes": -0.1, "no": -2.0})
        assert outcome.logp == pytest.approx(-0.1)
    assert result.flags.flips.get(Condition.SHUFFLED) is False
