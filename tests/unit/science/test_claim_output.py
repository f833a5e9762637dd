"""Visual claims anywhere in an output (DESIGN.md section 3) and sentences that are not claims."""

from __future__ import annotations

import pytest

from audits.science.claim_context import DEFAULT_CONTEXT, GENERIC, HISTORICAL, HYPOTHETICAL
from audits.science.claims import classify_sentence, detect_visual_claims


def _claims(text: str) -> list[str]:
    return [span.text for span in detect_visual_claims(text)]


def test_claim_after_the_answer_is_found() -> None:
    text = "Answer: B. The CT shows a large mass in the liver."
    spans = detect_visual_claims(text)
    assert len(spans) == 1
    assert "The CT shows a large mass" in spans[0].text
    assert text[spans[0].start : spans[0].end] == spans[0].text
    assert spans[0].trigger.lower() == "mass"


def test_claim_after_think_block_is_found() -> None:
    text = (
        "<think>Let me look at the question.</think><answer>B</answer>\n"
        "The radiograph shows a right pneumothorax."
    )
    assert _claims(text) == ["The radiograph shows a right pneumothorax."]


def test_short_answer_stating_a_finding_is_a_claim() -> None:
    assert _claims("Yes, there is a left pleural effusion.") == [
        "Yes, there is a left pleural effusion."
    ]
    assert _claims("<answer>Yes, there is a left pleural effusion.</answer>") != []


@pytest.mark.parametrize(
    "text",
    [
        "B",
        "yes",
        "No.",
        "Answer: B",
        "Final answer: (C)",
        "<answer>yes</answer>",
        "<answer>left pleural effusion</answer>",
        "Answer: pneumothorax",
        "<think>The answer is B.</think><answer>B</answer>",
    ],
)
def test_bare_answer_token_is_never_a_claim(text: str) -> None:
    assert detect_visual_claims(text) == []


@pytest.mark.parametrize(
    "sentence",
    [
        # clinical history / indication
        "The clinical history mentions a left hip fracture.",
        "History of pulmonary embolism.",
        "Indication: shortness of breath, rule out pneumonia.",
        "The patient presented with chest pain and a prior rib fracture.",
        "I have been having a cough and my chest X-ray was taken last week.",
        # hypotheticals and plans
        "If there is an effusion, the answer would be yes.",
        "Recommend CT to further evaluate the nodule.",
        "Follow-up radiograph in 6 weeks to document resolution of the consolidation.",
        # textbook knowledge
        "Pneumothorax is typically seen on chest X-ray.",
        "Pleural effusions are commonly caused by heart failure.",
        "Bronchiectasis is defined as irreversible dilation of the bronchi.",
        # answer statements, restated questions, meta
        "The right answer is C, consolidation.",
        "So the correct option is D, left lower lobe.",
        "The question asks whether the trachea is deviated.",
        "Is there a pneumothorax on the left?",
        "As an AI, I cannot interpret medical images.",
    ],
)
def test_not_claims(sentence: str) -> None:
    assert classify_sentence(sentence) is None, sentence


@pytest.mark.parametrize(
    ("sentence", "category"),
    [
        ("Heart size normal and lungs are clear.", None),
        ("No pneumothorax.", "finding"),
        ("Mild cardiomegaly.", "finding"),
        ("The trachea is midline.", None),
        ("Lungs are clear bilaterally.", None),
        ("No acute cardiopulmonary process.", "finding"),
        ("ET tube tip 3 cm above the carina.", "device"),
        ("IMPRESSION: Left lower lobe pneumonia.", "finding"),
        ("This is a PA view of the chest.", None),
        ("The answer is B because the CT shows a mass in the pancreas.", "finding"),
    ],
)
def test_terse_report_sentences_are_claims(sentence: str, category: str | None) -> None:
    found = classify_sentence(sentence)
    assert found is not None, sentence
    if category is not None:
        assert found[0] == category


def test_context_scopes_are_explainable() -> None:
    text = "History of hip fracture, but there is now a new rib fracture."
    modifiers = DEFAULT_CONTEXT.modifiers(text)
    historical = [m for m in modifiers if m.category == HISTORICAL]
    assert historical and historical[0].trigger.lower() == "history"
    rib = text.index("rib fracture")
    assert HISTORICAL not in DEFAULT_CONTEXT.categories_for(modifiers, rib, rib + 12)
    hip = text.index("hip fracture")
    assert HISTORICAL in DEFAULT_CONTEXT.categories_for(modifiers, hip, hip + 12)
    assert classify_sentence(text) is not None

    hyp = DEFAULT_CONTEXT.modifiers("If there were a pneumothorax, we would see a pleural line.")
    assert {m.category for m in hyp} >= {HYPOTHETICAL}
    gen = DEFAULT_CONTEXT.modifiers("Sarcoidosis classically causes hilar lymphadenopathy.")
    assert GENERIC in {m.category for m in gen}


def test_deterministic_and_offsets_index_the_text() -> None:
    text = (
        "Human: <think>The image is a frontal chest radiograph. There is a 2.5 cm nodule in "
        "the R. upper lobe vs. scar; the heart is normal.</think>\nAnswer: yes. Dr. Smith "
        "would recommend follow-up CT."
    )
    first = detect_visual_claims(text)
    assert first == detect_visual_claims(text)
    assert [s.text for s in first] == [
        "The image is a frontal chest radiograph.",
        "There is a 2.5 cm nodule in the R. upper lobe vs. scar;",
        "the heart is normal.",
    ]
    for span in first:
        assert text[span.start : span.end] == span.text
