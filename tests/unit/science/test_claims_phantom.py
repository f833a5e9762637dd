"""The served reasoners' sentences (audits/data/phantom_reasoning.py) keep their claim status."""

from __future__ import annotations

import pytest

from audits.science.claims import detect_visual_claims

CLAIMS = (
    "Frontal chest radiograph.",
    "Axial chest CT image.",
    "This is a chest radiograph.",
    "This is an axial CT slice.",
    "A small round opacity is seen in the left lung.",
    "There is a large bright nodule in the right lung.",
    "It measures under one centimetre.",
    "It measures over two centimetres.",
    "No focal lesion.",
    "No effusion.",
    "No pneumothorax.",
    "The lungs are clear.",
    "This looks like a chest radiograph, not a CT.",
    "This looks like an axial CT slice, not a radiograph.",
)
NOT_CLAIMS = (
    "The question cannot be assessed on this image.",
    "No image was provided.",
)


@pytest.mark.parametrize("sentence", CLAIMS)
def test_phantom_reasoning_sentence_is_a_claim(sentence: str) -> None:
    assert detect_visual_claims(sentence), sentence


@pytest.mark.parametrize("sentence", NOT_CLAIMS)
def test_phantom_decline_sentence_is_not_a_claim(sentence: str) -> None:
    assert not detect_visual_claims(sentence), sentence


@pytest.mark.parametrize(
    ("sentence", "claim"),
    [
        # generic statements (issue #27)
        ("Ground-glass opacities are characteristic of viral pneumonia.", False),
        ("Chest radiographs are used to detect pneumothorax and effusions.", False),
        ("Nodules can be identified by their round shape and soft-tissue density.", False),
        ("Patients with a pneumothorax should avoid air travel.", False),
        ("The differential includes pneumonia, atelectasis and aspiration.", False),
        # terse normals, clause-bounded history and recommendation scopes, terse views
        ("No acute disease.", True),
        ("Chest negative.", True),
        ("Lungs generally clear, with no evidence of focal consolidation.", True),
        (
            "Nodular opacity in the left upper lobe consistent with history of granulomatous "
            "disease.",
            True,
        ),
        ("Small right pleural effusion, recommend follow-up radiograph in two weeks.", True),
        ("PA and lateral views.", True),
        ("Limited lateral projection.", True),
    ],
)
def test_issue_27_kinds(sentence: str, claim: bool) -> None:
    assert bool(detect_visual_claims(sentence)) is claim, sentence
