"""Answer parsing, normalization and matching (DESIGN.md section 3)."""

from __future__ import annotations

import pytest

from audits.contracts.types import UNPARSED
from audits.science.answer_extraction import final_answer
from audits.science.parsing import (
    answers_match,
    locate_reasoning,
    normalize_answer,
    parse_output,
    token_f1,
)

OPTIONS = {"A": "Pleural effusion", "B": "Pneumothorax", "C": "Cardiomegaly", "D": "Normal"}
YES_NO_OPTIONS = {"A": "Yes", "B": "No"}


@pytest.mark.parametrize(
    ("text", "reasoning", "answer", "source"),
    [
        # MedVLThinker style
        (
            "<think>Left effusion.</think><answer>Yes</answer>",
            "Left effusion.",
            "Yes",
            "answer_tag",
        ),
        ("<think>\n  r  \n</think>\n<answer> (B) </answer>", "r", "(B)", "answer_tag"),
        ("<THINK>upper</THINK><ANSWER>no</ANSWER>", "upper", "no", "answer_tag"),
        # the last answer block wins; nested tags are stripped from the content
        ("<answer>A</answer> on reflection <answer>C</answer>", "", "C", "answer_tag"),
        ("<answer><answer>B</answer></answer>", "", "B", "answer_tag"),
        (
            "<think>a <think>b</think> c</think><answer>D</answer>",
            "a <think>b</think> c",
            "D",
            "answer_tag",
        ),
        # unclosed tags
        ("<think>the heart is big<answer>yes", "the heart is big", "yes", "answer_tag"),
        (
            "<think>reasoning only, never closed\nAnswer: B",
            "reasoning only, never closed",
            "B",
            "answer_line",
        ),
        ("Reasoning.<answer>pneumothorax", "Reasoning.", "pneumothorax", "answer_tag"),
        # chat templates that put <think> in the prompt: only the closing tag is generated
        ("it looks normal</think>\nNo", "it looks normal", "No", "short"),
        # empty answer block falls through to the other rules
        ("<think>x</think><answer></answer>\nAnswer: A", "x", "A", "answer_line"),
        # answer lines: last one wins, "Final answer" and markdown
        (
            "Looks fine.\nAnswer: A\nWait.\nFinal answer: C",
            "Looks fine.\nAnswer: A\nWait.",
            "C",
            "answer_line",
        ),
        ("Reasoning here.\n**Final Answer:** (B)", "Reasoning here.", "(B)", "answer_line"),
        ("The lungs are clear. Answer: no", "The lungs are clear.", "no", "answer_line"),
        ("Thinking...\nanswer:\nyes", "Thinking...", "yes", "answer_line"),
        # a short output is itself the answer
        ("Yes.", "", "Yes.", "short"),
        ("left upper lobe", "", "left upper lobe", "short"),
        ("<think>hmm</think>  Pleural effusion  ", "hmm", "Pleural effusion", "short"),
        # a long output: "the answer is X", or an opening verdict
        (
            "The heart is enlarged and both lungs show extensive opacities, so overall the answer "
            "is B. That is all.",
            "The heart is enlarged and both lungs show extensive opacities, so overall",
            "B",
            "answer_line",
        ),
        (
            "No, there is no pneumothorax visible anywhere in either of the lungs on this film.",
            "No, there is no pneumothorax visible anywhere in either of the lungs on this film.",
            "No",
            "short",
        ),
        # nothing answer-like
        (
            "The image shows the chest with some findings in the lower zones that are hard to "
            "characterize further without comparison.",
            "The image shows the chest with some "
            "findings in the lower zones that are hard to characterize further without comparison.",
            None,
            "none",
        ),
        ("", "", None, "none"),
        ("   \n ", "", None, "none"),
        ("<think></think>", "", None, "none"),
        ("<answer></answer>", "", None, "none"),
    ],
)
def test_parse_output(text: str, reasoning: str, answer: str | None, source: str) -> None:
    parsed = parse_output(text)
    assert parsed.answer_text == answer
    assert parsed.source == source
    assert parsed.reasoning == reasoning


def test_parse_output_none_input() -> None:
    assert parse_output(None).answer_text is None


def test_reasoning_is_a_slice_of_the_output() -> None:
    text = "preamble <think>\n The CT shows a mass. \n</think><answer>yes</answer>"
    start, end = locate_reasoning(text)
    assert text[start:end] == "The CT shows a mass." == parse_output(text).reasoning


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", "yes"),
        ("Yes.", "yes"),
        ("YES!", "yes"),
        ("yes, there is a left effusion", "yes"),
        ("Yes there is", "yes"),
        ("y", "yes"),
        ("True", "yes"),
        ("present", "yes"),
        ("Positive.", "yes"),
        ("No", "no"),
        ("no, the heart is normal", "no"),
        ("n", "no"),
        ("False", "no"),
        ("Absent", "no"),
        ("negative", "no"),
        ("not present", "no"),
        ("The Left  Upper   Lobe.", "left upper lobe"),
        ("an enlarged heart", "enlarged heart"),
        ("  Pleural effusion!! ", "pleural effusion"),
        ("3.5 cm", "3.5 cm"),
        ("T2-weighted", "t2 weighted"),
        ("<answer>Yes</answer>", "yes"),
        ("B", "B"),
        ("(b)", "B"),
        ("B.", "B"),
        ("B)", "B"),
        ("option B", "B"),
        ("Option (C)", "C"),
        ("the answer is b", "B"),
        ("Answer: (D)", "D"),
        ("**E**", "E"),
        ("a", "A"),
        ("The", UNPARSED),
        ("...", UNPARSED),
        ("", UNPARSED),
        (None, UNPARSED),
        (UNPARSED, UNPARSED),
        # no options: a letter followed by text stays text
        ("B. Pneumothorax", "b pneumothorax"),
    ],
)
def test_normalize_without_options(text: str | None, expected: str) -> None:
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("B", OPTIONS, "B"),
        ("(B)", OPTIONS, "B"),
        ("B. Pneumothorax", OPTIONS, "B"),
        ("(c) cardiomegaly", OPTIONS, "C"),
        ("pneumothorax", OPTIONS, "B"),
        ("The pleural effusion.", OPTIONS, "A"),
        ("Answer: normal", OPTIONS, "D"),
        ("option d", OPTIONS, "D"),
        ("atelectasis", OPTIONS, "atelectasis"),
        ("Yes, there is.", YES_NO_OPTIONS, "A"),
        ("No.", YES_NO_OPTIONS, "B"),
        ("absent", YES_NO_OPTIONS, "B"),
        ("", OPTIONS, UNPARSED),
        ("F", {"E": "x", "F": "y"}, "F"),
    ],
)
def test_normalize_with_options(text: str, options: dict[str, str], expected: str) -> None:
    assert normalize_answer(text, options) == expected


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("<think>There is a large effusion.</think><answer>Yes</answer>", None, "yes"),
        ("Reasoning.\nAnswer: (B)", OPTIONS, "B"),
        ("Reasoning.\nAnswer: Pneumothorax", OPTIONS, "B"),
        ("Answer: A\nAnswer: C", OPTIONS, "C"),
        ("yes, there is", None, "yes"),
        ("", None, UNPARSED),
        (None, None, UNPARSED),
        (
            "<think>never closed and no answer given at all in this long reasoning text",
            None,
            UNPARSED,
        ),
    ],
)
def test_final_answer(text: str | None, options: dict[str, str] | None, expected: str) -> None:
    assert final_answer(text, options) == expected


@pytest.mark.parametrize(
    ("a", "b", "threshold", "expected"),
    [
        ("Yes.", "yes, there is", None, True),
        ("yes", "no", None, False),
        ("B", "(B)", None, True),
        ("B", "C", None, False),
        ("left upper lobe", "The left upper lobe", None, True),
        ("left upper lobe", "left lower lobe", None, False),
        ("left upper lobe", "left lower lobe", 0.6, True),
        ("left upper lobe", "right lower lobe", 0.6, False),
        (UNPARSED, UNPARSED, None, True),
        (UNPARSED, "yes", None, False),
        (UNPARSED, "yes", 0.0, False),
        ("", UNPARSED, None, True),
    ],
)
def test_answers_match(a: str, b: str, threshold: float | None, expected: bool) -> None:
    assert answers_match(a, b, f1_threshold=threshold) is expected
    assert answers_match(b, a, f1_threshold=threshold) is expected


def test_token_f1() -> None:
    assert token_f1("left upper lobe", "left upper lobe") == 1.0
    assert token_f1("left upper lobe", "left lower lobe") == pytest.approx(2 / 3)
    assert token_f1("the mass", "mass in the liver") == pytest.approx(2 * 1 * (1 / 3) / (4 / 3))
    assert token_f1("effusion", "pneumothorax") == 0.0
    assert token_f1(UNPARSED, UNPARSED) == 1.0
    assert token_f1(UNPARSED, "yes") == 0.0
