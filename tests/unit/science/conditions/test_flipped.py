"""The ``flipped`` condition: its image, its right answer, its per-item checks and rates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

from audits.contracts.backend import VLMInput
from audits.contracts.types import Condition, ConditionOutcome, ItemAudit, ItemFlags
from audits.science.audit_steps import ItemAuditRun, ItemAuditSpec
from audits.science.conditions import ImageSources, definition_of
from audits.science.flags import compute_flags
from audits.science.metrics import compute_metrics
from audits.science.rates import check_value

R, F, S = Condition.REAL, Condition.FLIPPED, Condition.SHUFFLED
SIDE_QUESTION = "Which side is the lesion on?"


def _output(answer: str) -> str:
    return f"<think>A round opacity is seen in the lung.</think><answer>{answer}</answer>"


def _flags(
    answers: Mapping[Condition, str],
    *,
    question: str = SIDE_QUESTION,
    reference: str | None = None,
    options: dict[str, str] | None = None,
) -> ItemFlags:
    outcomes = {c: ConditionOutcome(condition=c, output=_output(a)) for c, a in answers.items()}
    return compute_flags(outcomes, question=question, reference=reference, options=options)


def test_the_image_is_mirrored_left_right() -> None:
    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[:, 0] = 255  # a bright column at the viewer's left
    image = Image.fromarray(pixels)
    mirrored = np.asarray(definition_of(F).image(ImageSources(image)))
    assert (mirrored[:, -1] == 255).all() and (mirrored[:, :-1] == 0).all()


def test_the_right_answer_moves_to_the_other_side_and_nothing_else_changes() -> None:
    flipped = definition_of(F)
    assert flipped.reference_under("left") == "right"
    assert flipped.reference_under("Right lower lobe") == "Left lower lobe"
    assert flipped.reference_under("yes") == "yes"
    assert flipped.reference_under("bilateral") == "bilateral"


def test_a_model_that_follows_the_mirror() -> None:
    flags = _flags({R: "left", F: "right"}, reference="left")
    assert check_value(flags, "laterality_followed") is True
    assert check_value(flags, "flip_invariant") is None
    assert flags.flips[F] is True
    # a mirrored side is not an image-invariance flip: flipped is metamorphic
    assert flags.image_invariant is None
    # correct under flipped means the mirrored reference
    assert flags.correct == {R: True, F: True}


def test_a_shortcut_that_keeps_its_side_is_flagged() -> None:
    flags = _flags({R: "left", F: "left lung"}, reference="left")
    assert check_value(flags, "laterality_followed") is False
    checks = {c.name: c for c in flags.checks}
    assert checks["laterality_followed"].flagged
    assert flags.correct == {R: True, F: False}


def test_answers_without_a_side_should_not_change() -> None:
    question = "Is there a lesion?"
    assert check_value(_flags({R: "yes", F: "yes"}, question=question), "flip_invariant") is True
    changed = _flags({R: "yes", F: "no"}, question=question)
    assert check_value(changed, "flip_invariant") is False
    assert check_value(changed, "laterality_followed") is None
    # a yes/no question about a side may turn either way under the mirror: neither rate
    about_a_side = _flags({R: "yes", F: "no"}, question="Is the lesion on the left?")
    assert check_value(about_a_side, "flip_invariant") is None
    assert check_value(about_a_side, "laterality_followed") is None


def test_option_letters_name_their_option_side() -> None:
    options = {"A": "Left lung", "B": "Right lung", "C": "Both lungs"}
    followed = _flags({R: "A", F: "B"}, question="Where is the nodule?", options=options)
    assert check_value(followed, "laterality_followed") is True
    kept = _flags({R: "A", F: "A"}, question="Where is the nodule?", options=options)
    assert check_value(kept, "laterality_followed") is False


def test_no_answer_under_the_mirror_is_unknown_not_a_failure() -> None:
    outcomes = {
        R: ConditionOutcome(condition=R, output=_output("left")),
        F: ConditionOutcome(condition=F, output="<think>A round opacity"),
    }
    flags = compute_flags(outcomes, question=SIDE_QUESTION)
    assert check_value(flags, "laterality_followed") is None


def test_report_rates_by_name() -> None:
    items = [
        ItemAudit(id="a", question=SIDE_QUESTION, flags=_flags({R: "left", F: "right"})),
        ItemAudit(id="b", question=SIDE_QUESTION, flags=_flags({R: "right", F: "right"})),
        ItemAudit(
            id="c", question="Is there a lesion?", flags=_flags({R: "yes", F: "yes"}, question="")
        ),
    ]
    overall = compute_metrics(items, n_boot=10).overall
    dumped = overall.model_dump()
    assert dumped["laterality_consistency"]["k"] == 1 and dumped["laterality_consistency"]["n"] == 2
    assert dumped["flip_invariance"]["k"] == 1 and dumped["flip_invariance"]["n"] == 1
    assert overall.flip_rate[F] is not None and overall.flip_rate[F].n == 3


class _SideReader:
    """Answers the side of the brightest pixel: a model that reads the image."""

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        return [_output(self._side(item)) for item in items]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [
            0.0 if answer == self._side(item) else -5.0
            for item, answer in zip(items, answers, strict=True)
        ]

    @staticmethod
    def _side(item: VLMInput) -> str:
        assert item.image is not None
        pixels = np.asarray(item.image.convert("L"))
        column = int(np.unravel_index(pixels.argmax(), pixels.shape)[1])
        return "left" if column < pixels.shape[1] / 2 else "right"


def test_an_item_audit_runs_the_mirrored_image() -> None:
    image = Image.new("RGB", (8, 8), (10, 20, 30))
    image.putpixel((0, 0), (255, 255, 255))
    run = ItemAuditRun(
        ItemAuditSpec(question=SIDE_QUESTION, image=image, conditions=(S, F), mode="generate")
    )
    result = run.run_all(_SideReader())  # type: ignore[arg-type]
    assert run.inputs[F].image is not None
    assert run.inputs[F].image.getpixel((7, 0)) == (255, 255, 255)
    assert result.outcomes[S].skipped and not result.outcomes[F].skipped
    assert result.flags.answers == {R: "left", F: "right"}
    assert check_value(result.flags, "laterality_followed") is True
