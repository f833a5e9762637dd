"""Sides named in answers, in the wordings radiology answers use."""

from __future__ import annotations

import pytest

from audits.science.laterality import mirrored, names_a_side, opposite, side_of


@pytest.mark.parametrize(
    ("text", "side"),
    [
        ("left", "left"),
        ("Right", "right"),
        ("left lower lobe", "left"),
        ("the right-sided pleural effusion", "right"),
        ("Lt. kidney", "left"),
        ("RT", "right"),
        ("bilateral", None),
        ("both lungs", None),
        ("left and right", None),
        ("yes", None),
        ("lefty", None),
        ("the answer is C", None),
        ("", None),
        (None, None),
    ],
)
def test_side_of(text: str | None, side: str | None) -> None:
    assert side_of(text) == side


def test_mirrored_swaps_every_side_word_keeping_case() -> None:
    assert mirrored("left lower lobe") == "right lower lobe"
    assert mirrored("Right-sided effusion, LT kidney") == "Left-sided effusion, RT kidney"
    assert mirrored("cardiomegaly") == "cardiomegaly"
    assert opposite("left") == "right" and opposite("right") == "left"


def test_questions_about_a_side() -> None:
    assert names_a_side("Is the effusion on the left?")
    assert names_a_side("Are the findings bilateral?")
    assert not names_a_side("Is there a lesion?")
