"""Final answers from real outputs (DESIGN.md section 3, "Final answers from real outputs").

(a) Hand-written cases, one group per style real medical VLMs write in.
(b) The labelled real-style outputs in ``tests/fixtures/labelled/``: the share extracted right
    on the development split (the one the extractor was tuned on) and on the held-out split
    (never looked at item by item), with a floor on the held-out share.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from audits.contracts.types import UNPARSED
from audits.science.answer_extraction import extract_answer, final_answer, question_kind
from audits.science.open_answers import (
    OPEN_FLIP_F1_THRESHOLD,
    OPEN_RECALL_THRESHOLD,
    directions_swapped,
    open_answer_correct,
    open_answers_differ,
    open_f1,
    open_recall,
)
from audits.science.parsing import normalize_answer, token_f1

OPTIONS = {"A": "Pleural effusion", "B": "Pneumothorax", "C": "Consolidation", "D": "Normal"}
MODALITY = {"A": "CT", "B": "MRI", "C": "Ultrasound", "D": "X-ray"}
YES_NO = {"A": "Yes", "B": "No"}

LABELLED = Path(__file__).resolve().parents[2] / "fixtures" / "labelled"
DEV = LABELLED / "answers_dev.jsonl"
HELDOUT = LABELLED / "answers_heldout.jsonl"

# Measured at the end of the work on this extractor (issue 14), on the fixture files as
# committed then: dev 102/102 = 1.000, held-out 98/101 = 0.970; the parser before it (git HEAD
# 260256f) on the same files: dev 45/102 = 0.441, held-out 41/101 = 0.406. The held-out misses
# were not looked at. The floor allows one more held-out miss than measured (97/101 = 0.960)
# and stays above 0.90: a parser that gets one answer in ten wrong moves IS and accuracy by more
# than their intervals on typical audit sizes.
HELDOUT_FLOOR = 0.96
DEV_TARGET = 0.95
OPEN_MATCH_F1 = 0.8

# (style, output, options, kind, expected extracted answer)
CASES: list[tuple[str, str, dict[str, str] | None, str | None, str]] = [
    # MedVLThinker tags
    ("think_answer", "<think>The left costophrenic angle is blunted.</think><answer>A</answer>",
     OPTIONS, "mc", "A"),
    ("think_answer", "<think>Air under the diaphragm.</think>\n<answer> yes </answer>", None,
     "closed", "yes"),
    ("think_answer", "<think>It is axial.</think><answer>The answer is C because it is an "
     "ultrasound.</answer>", MODALITY, "mc", "C"),
    ("think_answer", "<think>Looks at the head.</think><answer>Brain</answer>", None, "open",
     "Brain"),
    # "Answer: X" lines
    ("answer_line", "The lungs are hyperinflated.\nAnswer: B", OPTIONS, "mc", "B"),
    ("answer_line", "Findings: clear lungs.\n**Answer:** No", None, "closed", "no"),
    ("answer_line", "Answer: Pneumothorax", OPTIONS, "mc", "B"),
    ("answer_line", "Answer: left kidney", None, "open", "left kidney"),
    # "Rationale: ... Answer: B"
    ("rationale_answer", "Rationale: the pleural line is visible with no lung markings beyond "
     "it. Answer: B", OPTIONS, "mc", "B"),
    ("rationale_answer", "Rationale: there is no free air. Answer: no", None, "closed", "no"),
    # "The answer is C because ..."
    ("answer_is_because", "The answer is C because the opacity is lobar with air bronchograms.",
     OPTIONS, "mc", "C"),
    ("answer_is_because", "The answer is yes because the heart is enlarged.", None, "closed",
     "yes"),
    ("answer_is_because", "The answer is the liver because the lesion is in the right upper "
     "quadrant.", None, "open", "the liver"),
    # "B - Pneumothorax"
    ("letter_dash_text", "B - Pneumothorax", OPTIONS, "mc", "B"),
    ("letter_dash_text", "D – Normal study, no acute findings.", OPTIONS, "mc", "D"),
    # "The correct option is C." / "C is the right answer"
    ("correct_option", "The correct option is C.", OPTIONS, "mc", "C"),
    ("correct_option", "The right answer is C, consolidation.", OPTIONS, "mc", "C"),
    ("correct_option", "Option D is correct.", OPTIONS, "mc", "D"),
    ("correct_option", "Looking at the options, B is the most likely answer.", OPTIONS, "mc",
     "B"),
    # "I would choose B."
    ("i_would_choose", "I would choose B.", OPTIONS, "mc", "B"),
    ("i_would_choose", "I'd select option (A) here.", OPTIONS, "mc", "A"),
    ("i_would_choose", "Given the sharp pleural line, I will go with B - Pneumothorax.",
     OPTIONS, "mc", "B"),
    # \boxed{B}
    ("boxed", "The final answer is $\\boxed{B}$", OPTIONS, "mc", "B"),
    ("boxed", "\\boxed{\\text{C}}", OPTIONS, "mc", "C"),
    ("boxed", "So the answer: \\boxed{no}", None, "closed", "no"),
    # a letter first, an explanation after
    ("letter_first", "C. Because the opacity is lobar.", OPTIONS, "mc", "C"),
    ("letter_first", "(A) There is a meniscus at the left base.", OPTIONS, "mc", "A"),
    ("letter_first", "A: the costophrenic angle is blunted", OPTIONS, "mc", "A"),
    # option text instead of the letter
    ("option_text", "pneumothorax", OPTIONS, "mc", "B"),
    ("option_text", "This is most consistent with a pleural effusion on the left.", OPTIONS,
     "mc", "A"),
    ("option_text", "The study was acquired with MRI.", MODALITY, "mc", "B"),
    ("option_text", "Yes, it is present.", YES_NO, "mc", "A"),
    # "A" inside words or sentences is not option A
    ("not_a_letter", "A round opacity in the right lower zone, in keeping with consolidation.",
     OPTIONS, "mc", "C"),
    ("not_a_letter", "A small pneumothorax is seen at the apex.", OPTIONS, "mc", "B"),
    ("not_a_letter", "The answer is a large right pneumothorax.", OPTIONS, "mc", "B"),
    # hedged, then committed
    ("hedged_then_committed", "It could be A, but the best answer is D.", OPTIONS, "mc", "D"),
    ("hedged_then_committed", "B seems tempting; however, the correct answer is C.", OPTIONS,
     "mc", "C"),
    ("hedged_then_committed", "Answer: A\nWait, on reflection.\nFinal answer: B", OPTIONS, "mc",
     "B"),
    ("hedged_then_committed", "Maybe yes at first glance, but my final answer is no.", None,
     "closed", "no"),
    # a closed answer opening a sentence
    ("closed_sentence", "Yes, the diaphragm is obscured by the effusion.", None, "closed", "yes"),
    ("closed_sentence", "No, there is no pneumothorax.", None, "closed", "no"),
    ("closed_sentence", "no evidence of free air under the diaphragm", None, "closed", "no"),
    ("closed_sentence", "There is no pleural effusion on this radiograph.", None, "closed", "no"),
    ("closed_sentence", "The heart is enlarged.", None, "closed", "yes"),
    # turn markers
    ("human_prefix", "Human: Yes, the diaphragm is obscured on the left side.", None, "closed",
     "yes"),
    ("human_prefix", "ASSISTANT: No, the trachea is midline.", None, "closed", "no"),
    ("human_prefix", "GPT: B", OPTIONS, "mc", "B"),
    ("human_prefix", "Assistant: The lesion is in the left kidney.", None, "open",
     "The lesion is in the left kidney"),
    ("human_prefix", "Yes, it is.\nHuman: Is there anything else?", None, "closed", "yes"),
    # another language
    ("other_language", "是的，可见左侧胸腔积液。", None, "closed", "yes"),
    ("other_language", "没有，未见气胸。", None, "closed", "no"),
    ("other_language", "无", None, "closed", "no"),
    ("other_language", "有", None, "closed", "yes"),
    ("other_language", "Não, não há derrame pleural.", None, "closed", "no"),
    ("other_language", "Oui, il y a un épanchement.", None, "closed", "yes"),
    ("other_language", "Nein.", None, "closed", "no"),
    ("other_language", "Ja, es gibt eine Verschattung.", None, "closed", "yes"),
    ("other_language", "Sì, c'è un versamento.", None, "closed", "yes"),
    ("other_language", "Sim", None, "closed", "yes"),
    ("other_language", "Non.", None, "closed", "no"),
    # whole-sentence open answers
    ("open_sentence", "The mass is located in the periampullary region of the pancreas.", None,
     "open", "The mass is located in the periampullary region of the pancreas"),
    ("open_sentence", "The image is an axial CT of the abdomen. It shows the liver.", None,
     "open", "The image is an axial CT of the abdomen"),
    ("open_sentence", "Left lower lobe", None, "open", "Left lower lobe"),
    # no answer at all
    ("no_answer", "", None, "closed", UNPARSED),
    ("no_answer", "   ", OPTIONS, "mc", UNPARSED),
    ("no_answer", "I'm sorry, I cannot interpret medical images.", None, "closed", UNPARSED),
    ("no_answer", "As an AI language model, I am not able to view images.", None, "open",
     UNPARSED),
    ("no_answer", "I'm sorry, but I can't help with that. Please consult a radiologist.",
     OPTIONS, "mc", UNPARSED),
    ("no_answer", "<think>Let me look at the lungs carefully and compare both sides", None,
     "closed", UNPARSED),
    ("no_answer", "Human: What is the most likely diagnosis?", None, "open", UNPARSED),
]  # fmt: skip


@pytest.mark.parametrize(
    ("style", "output", "options", "kind", "expected"),
    CASES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(CASES)],
)
def test_real_style(
    style: str, output: str, options: dict[str, str] | None, kind: str | None, expected: str
) -> None:
    got = extract_answer(output, options=options, kind=kind)  # type: ignore[arg-type]
    assert _right(kind or "open", options, got, expected), (style, got)


def test_final_answer_is_the_normalized_extraction() -> None:
    assert final_answer("Human: Yes, the diaphragm is obscured.", kind="closed") == "yes"
    assert final_answer("I would choose B.", OPTIONS) == "B"
    assert final_answer("B - Pneumothorax", OPTIONS) == "B"
    assert final_answer("The right answer is C") == "C"
    assert final_answer("No, there is no effusion.") == "no"
    assert final_answer("I'm sorry, I cannot answer that.") == UNPARSED


def test_closed_answers_off_the_question_are_not_guessed() -> None:
    question = "Is there a rib fracture?"
    text = "A chest X-ray is displayed, showing an enlarged cardiac region."
    assert extract_answer(text, kind="closed", question=question) == UNPARSED
    on_topic = "The ribs are intact without a fracture."
    assert extract_answer(on_topic, kind="closed", question=question) == "no"


@pytest.mark.parametrize(
    ("question", "options", "reference", "kind"),
    [
        ("Is there a pneumothorax?", None, None, "closed"),
        ("does the heart look enlarged", None, None, "closed"),
        ("Is this a CT or an MRI?", None, None, "open"),
        ("Where is the mass?", None, None, "open"),
        ("Where is the mass?", OPTIONS, None, "mc"),
        ("Which side?", None, "yes", "closed"),
        ("Is this an axial image?", None, "coronal", "open"),
        (None, None, None, None),
    ],
)
def test_question_kind(
    question: str | None, options: dict[str, str] | None, reference: str | None, kind: str | None
) -> None:
    assert question_kind(question, options, reference) == kind


def test_open_answer_rules() -> None:
    assert (OPEN_RECALL_THRESHOLD, OPEN_FLIP_F1_THRESHOLD) == (0.67, 0.5)
    sentence = "The mass is located in the periampullary region of the pancreas."
    assert open_recall(sentence, "periampullary region of the pancreas") == 1.0
    assert open_answer_correct(sentence, "periampullary region of the pancreas")
    assert open_recall("right lung", "left lung") == 0.5
    assert not open_answer_correct("right lung", "left lung")
    assert not open_answer_correct("right lower lobe", "left lower lobe")
    assert open_answer_correct("lower lobe of the left lung", "left lower lobe")
    assert not open_answer_correct(UNPARSED, "liver")
    assert open_f1("mass in the pancreatic head", "pancreatic head mass") == 1.0
    assert not open_answers_differ("The spleen is enlarged.", "spleen enlarged")
    assert open_answers_differ("The spleen is enlarged.", "The liver is normal.")
    assert open_answers_differ("left lower lobe", "right lower lobe")
    assert directions_swapped("upper pole", "lower pole")
    assert not directions_swapped("left and right", "right")


# --- the labelled real-style outputs --------------------------------------------------------


def _right(kind: str, options: dict[str, str] | None, extracted: str, expected: str) -> bool:
    """closed / mc: exact after normalization; open: token F1 >= 0.8 or exact normalized."""
    if normalize_answer(extracted, options) == normalize_answer(expected, options):
        return True
    if kind in ("closed", "mc") or UNPARSED in (extracted, expected):
        return False
    return token_f1(extracted, expected) >= OPEN_MATCH_F1


def _load(path: Path) -> list[dict[str, object]]:
    assert path.exists(), (
        f"{path} is missing: the labelled real-style outputs (issue 14) must be committed"
    )
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _score(items: list[dict[str, object]]) -> tuple[int, Counter[str], Counter[str]]:
    right = 0
    misses: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for item in items:
        options = item.get("options") or None
        question = item.get("question")
        answer_set = item.get("answer_set") or None
        assert isinstance(question, str | None) and isinstance(options, dict | None)
        assert isinstance(answer_set, list | None)
        kind = question_kind(question, options, answer_set=answer_set)
        extracted = extract_answer(
            str(item["output"]),
            options=options,
            kind=kind,
            question=question,
            answer_set=answer_set,
        )
        ok = _right(str(item["kind"]), options, extracted, str(item["expected"]))
        right += ok
        style = str(item.get("style", "?"))
        totals[style] += 1
        if not ok:
            misses[style] += 1
    return right, misses, totals


def test_labelled_real_outputs() -> None:
    dev, heldout = _load(DEV), _load(HELDOUT)
    assert len(dev) + len(heldout) >= 80
    dev_right, dev_misses, dev_totals = _score(dev)
    held_right, _, _ = _score(heldout)
    dev_share, held_share = dev_right / len(dev), held_right / len(heldout)
    print(
        f"\nanswer extraction: dev {dev_right}/{len(dev)} = {dev_share:.3f}, "
        f"held-out {held_right}/{len(heldout)} = {held_share:.3f}"
    )
    print("dev misses per style: " + ", ".join(
        f"{style} {dev_misses[style]}/{dev_totals[style]}" for style in sorted(dev_totals)
    ))  # fmt: skip
    assert dev_share >= DEV_TARGET
    assert held_share >= HELDOUT_FLOOR


def test_outputs_without_an_answer_are_never_read_as_answers() -> None:
    """Every labelled output that commits to no answer (truncated reasoning, empty or garbled
    answer tags, refusals, closed-question text that is none of the admissible answers) is
    ``<unparsed>``, in dev and held-out alike."""
    rows = [row for row in _load(DEV) + _load(HELDOUT) if row["expected"] == UNPARSED]
    assert len(rows) >= 30
    read_as_answers = []
    for row in rows:
        options = row.get("options") or None
        answer_set = row.get("answer_set") or None
        question = row.get("question")
        assert isinstance(question, str | None) and isinstance(options, dict | None)
        assert isinstance(answer_set, list | None)
        kind = question_kind(question, options, answer_set=answer_set)
        got = extract_answer(
            str(row["output"]), options=options, kind=kind, question=question,
            answer_set=answer_set,
        )  # fmt: skip
        if got != UNPARSED:
            read_as_answers.append((row["style"], got))
    assert read_as_answers == []


def test_a_fixed_answer_set_makes_a_closed_question() -> None:
    assert question_kind("What modality is this?", answer_set=["xray", "ct"]) == "set"
    assert question_kind("Is there a lesion?", answer_set=["yes", "no"]) == "closed"
    assert final_answer("<answer>CT</answer>", answer_set=["xray", "ct"]) == "ct"
    assert final_answer("<answer>cannot assess</answer>", answer_set=["xray", "ct"]) == UNPARSED
    # naming both members is no commitment to either
    assert final_answer("Answer: xray or ct", answer_set=["xray", "ct"]) == UNPARSED
