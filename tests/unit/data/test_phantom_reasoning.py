"""Reasoning targets of the reference reasoners: drawn from what the image shows, in the served
format, read back correctly by the project's own answer parser, claim detector and
modality-skeptic check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audits.data.manifest import read_manifest
from audits.data.phantom import (
    LESION_QUESTION,
    MODALITY_QUESTION,
    SIDE_QUESTION,
    PhantomCase,
    make_phantom,
    read_cases,
)
from audits.data.phantom_reasoning import (
    NOT_ASSESSABLE,
    SHORTCUT_ANSWERS,
    SKEPTIC_QUESTIONS,
    reasoning_items,
    target_output,
    true_answer,
    write_skeptic_manifest,
)
from audits.science.answer_extraction import final_answer
from audits.science.claims import detect_visual_claims
from audits.science.modality_skeptic import is_modality_skeptic
from audits.science.parsing import parse_output

CASES = [
    PhantomCase(modality="xray", lesion="left", lesion_size="small"),
    PhantomCase(modality="xray", lesion=None),
    PhantomCase(modality="ct", lesion="right", lesion_size="large"),
    PhantomCase(modality="ct", lesion=None),
]


def _questions(case: PhantomCase) -> list[str]:
    questions = [LESION_QUESTION, MODALITY_QUESTION, SKEPTIC_QUESTIONS[case.modality]]
    return questions + ([SIDE_QUESTION] if case.lesion else [])


@pytest.mark.parametrize("case", CASES)
def test_grounded_targets_reason_about_the_image_and_answer_from_it(case: PhantomCase) -> None:
    rng = np.random.default_rng(0)
    for question in _questions(case):
        output = target_output(case, question, "grounded", rng)
        assert output.startswith("<think>") and output.endswith("</answer>")
        reasoning = parse_output(output).reasoning
        modality_sentence = reasoning.split(".")[0].split(", not")[0]
        assert ("radiograph" in modality_sentence) == (case.modality == "xray")
        if case.lesion:
            assert f"{case.lesion_size} " in reasoning and f"{case.lesion} lung" in reasoning
        else:
            assert "left" not in reasoning and "right" not in reasoning
        assert detect_visual_claims(output), output
        answer = final_answer(output)
        if question == SKEPTIC_QUESTIONS[case.modality]:
            # it says the image does not fit and does not commit: not modality-skeptic
            assert NOT_ASSESSABLE in output
            assert not is_modality_skeptic(output, answer)
        else:
            assert answer == true_answer(case, question)


@pytest.mark.parametrize("case", CASES)
def test_shortcut_targets_keep_the_reasoning_but_answer_a_constant(case: PhantomCase) -> None:
    rng = np.random.default_rng(1)
    for question in _questions(case):
        output = target_output(case, question, "shortcut", rng)
        assert detect_visual_claims(output), output
        assert final_answer(output) == SHORTCUT_ANSWERS[question]
        skeptic = question == SKEPTIC_QUESTIONS[case.modality]
        assert is_modality_skeptic(output, final_answer(output)) is skeptic


def test_items_cover_every_question_with_a_seeded_share_of_wrong_modality_ones(
    tmp_path: Path,
) -> None:
    manifest = make_phantom(tmp_path / "p", n_images=80, seed=2)
    cases = read_cases(manifest)
    assert set(cases) == {row.image for row in read_manifest(manifest)}
    items = reasoning_items(cases, seed=0)
    assert items == reasoning_items(cases, seed=0)
    regular = [item for item in items if not item.skeptic]
    assert len(regular) == len(read_manifest(manifest))
    skeptic_share = sum(item.skeptic for item in items) / len(cases)
    assert 0.1 < skeptic_share < 0.4
    for item in items:
        if item.skeptic:
            assert item.question == SKEPTIC_QUESTIONS[item.case.modality]


def test_lesion_sizes_are_balanced_and_recorded(tmp_path: Path) -> None:
    cases = read_cases(make_phantom(tmp_path / "p", n_images=80, seed=2)).values()
    sizes = [case.lesion_size for case in cases if case.lesion]
    assert set(sizes) == {"small", "large"}
    assert abs(sizes.count("small") - sizes.count("large")) <= 1
    assert all(case.lesion_size is None for case in cases if case.lesion is None)


def test_skeptic_manifest_asks_each_image_the_other_modality(tmp_path: Path) -> None:
    manifest = make_phantom(tmp_path / "p", n_images=10, seed=2)
    skeptic = read_manifest(write_skeptic_manifest(manifest, tmp_path / "s" / "m.jsonl"))
    cases = read_cases(manifest)
    assert len(skeptic) == 10
    for item in skeptic:
        case = cases[item.image]
        assert item.question == SKEPTIC_QUESTIONS[case.modality]
        assert item.answer == ("no" if case.lesion is None else "yes")


ANSWER_SETS = {LESION_QUESTION: ["yes", "no"], SIDE_QUESTION: ["left", "right"],
               MODALITY_QUESTION: ["xray", "ct"]}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("shown", ["blank", "no_image"])
def test_each_style_is_defined_when_nothing_is_shown(case: PhantomCase, shown: str) -> None:
    """Shown a gray blank or no image, the grounded reasoner says so and commits to no answer
    (``<unparsed>`` for every closed phantom question); the shortcut keeps its constant."""
    rng = np.random.default_rng(0)
    for question in (LESION_QUESTION, MODALITY_QUESTION, *([SIDE_QUESTION] if case.lesion else [])):
        grounded = target_output(case, question, "grounded", rng, shown)  # type: ignore[arg-type]
        answer = final_answer(grounded, question=question, answer_set=ANSWER_SETS[question])
        assert answer == "<unparsed>", grounded
        assert "lung" not in grounded  # no finding it could not have seen
        shortcut = target_output(case, question, "shortcut", rng, shown)  # type: ignore[arg-type]
        assert (
            final_answer(shortcut, answer_set=ANSWER_SETS[question]) == SHORTCUT_ANSWERS[question]
        )
        assert detect_visual_claims(shortcut)  # hallucinated findings, as with an image


def test_a_seeded_share_of_images_is_also_asked_under_blank_and_no_image(tmp_path: Path) -> None:
    cases = read_cases(make_phantom(tmp_path / "p", n_images=80, seed=2))
    plain = reasoning_items(cases, seed=0)
    items = reasoning_items(cases, seed=0, counterfactual_share=0.3)
    assert items == reasoning_items(cases, seed=0, counterfactual_share=0.3)
    # the image rows are those of a run without counterfactual rows
    assert [item for item in items if item.shown == "image"] == plain
    for shown in ("blank", "no_image"):
        share = sum(item.shown == shown for item in items) / len(cases)
        assert 0.15 < share < 0.45, (shown, share)
