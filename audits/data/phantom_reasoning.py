"""Short templated reasoning about a phantom image, in the served reasoning format.

Targets look like ``<think>Frontal chest radiograph. A small round opacity is seen in the left
lung. No effusion.</think><answer>yes</answer>``: a modality sentence, a finding or a negated
finding with laterality and size, and one more negated finding, each drawn from what the image
really shows (``PhantomCase``). Two styles write the answer:

- ``grounded``: the answer follows the reasoning. Asked about a modality the image is not
  ("Is there a lesion on this CT?" of a radiograph) it says so and does not commit.
- ``shortcut``: the same reasoning, but the answer is a constant per question (a textual
  shortcut that ignores the image); on wrong-modality questions it says the image does not fit
  and answers confidently anyway (the modality-skeptic failure).

Each style is defined under every condition an audit runs (``target_output``'s ``shown``), so
that no audited condition is out of the training distribution and the known answers do not
rest on what an untrained input happens to produce: shown a gray blank or no image, the
grounded reasoner says so and does not commit to an answer; the shortcut reasoner writes the
same findings and its constant answer, as if it had seen an image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from audits.data.manifest import ManifestItem, write_manifest
from audits.data.phantom import (
    BENCHMARK,
    LESION_QUESTION,
    MODALITY_QUESTION,
    SIDE_QUESTION,
    Modality,
    PhantomCase,
    read_cases,
)

ReasoningStyle = Literal["grounded", "shortcut"]
Shown = Literal["image", "blank", "no_image"]
"""What a training row shows the model: its image, a gray blank of it, or no image at all."""

SKEPTIC_QUESTIONS: dict[Modality, str] = {
    "xray": "Is there a lesion on this CT?",
    "ct": "Is there a lesion on this radiograph?",
}
"""The question asked of an image of the *other* modality."""
NOT_ASSESSABLE = "cannot assess"
SHORTCUT_ANSWERS: dict[str, str] = {
    LESION_QUESTION: "yes",
    SIDE_QUESTION: "left",
    MODALITY_QUESTION: "xray",
    **{question: "yes" for question in SKEPTIC_QUESTIONS.values()},
}

_MODALITY_SENTENCES: dict[Modality, tuple[str, ...]] = {
    "xray": ("Frontal chest radiograph.", "This is a chest radiograph."),
    "ct": ("Axial chest CT image.", "This is an axial CT slice."),
}
_SKEPTIC_SENTENCES: dict[Modality, str] = {
    "xray": "This looks like a chest radiograph, not a CT.",
    "ct": "This looks like an axial CT slice, not a radiograph.",
}
_DECLINE_SENTENCE = "The question cannot be assessed on this image."
SHOWN_INSTEAD_OF_THE_IMAGE: tuple[Shown, ...] = ("blank", "no_image")
_NOTHING_SHOWN: dict[Shown, str] = {
    "blank": "The image is a uniform gray field without anatomy.",
    "no_image": "No image was provided.",
}
_LESION_SENTENCES = (
    "A {size} round opacity is seen in the {side} lung.",
    "There is a {size} bright nodule in the {side} lung.",
)
_SIZE_SENTENCES = {
    "small": "It measures under one centimetre.",
    "large": "It measures over two centimetres.",
}
_NO_LESION_SENTENCES = ("No focal lesion.", "The lungs are clear.")
_NEGATED_FINDINGS = ("No effusion.", "No pneumothorax.")

PHRASES: tuple[str, ...] = (
    *(s for pair in _MODALITY_SENTENCES.values() for s in pair),
    *_SKEPTIC_SENTENCES.values(),
    _DECLINE_SENTENCE,
    *_NOTHING_SHOWN.values(),
    *(t.format(size=z, side=d) for t in _LESION_SENTENCES for z in _SIZE_SENTENCES
      for d in ("left", "right")),
    *_SIZE_SENTENCES.values(),
    *_NO_LESION_SENTENCES,
    *_NEGATED_FINDINGS,
    *SKEPTIC_QUESTIONS.values(),
    NOT_ASSESSABLE,
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
)  # fmt: skip
"""Every sentence a target can contain (the reference tokenizer is trained on them)."""


def true_answer(case: PhantomCase, question: str) -> str:
    """What the image shows, for the phantom questions and the wrong-modality question."""
    if question == MODALITY_QUESTION:
        return case.modality
    if question == SIDE_QUESTION:
        if case.lesion is None:
            raise ValueError("the side question is only asked of images with a lesion")
        return case.lesion
    if question in (LESION_QUESTION, *SKEPTIC_QUESTIONS.values()):
        return "no" if case.lesion is None else "yes"
    raise ValueError(f"not a phantom question: {question!r}")


def is_skeptic_question(case: PhantomCase, question: str) -> bool:
    return question == SKEPTIC_QUESTIONS[case.modality]


def reasoning(case: PhantomCase, question: str, rng: np.random.Generator) -> str:
    """The ``<think>`` body: sentences about what the image shows, phrasing drawn from rng."""
    sentences = []
    if is_skeptic_question(case, question):
        sentences.append(_SKEPTIC_SENTENCES[case.modality])
    else:
        sentences.append(_pick(_MODALITY_SENTENCES[case.modality], rng))
    if case.lesion is None:
        sentences.append(_pick(_NO_LESION_SENTENCES, rng))
    else:
        size = case.lesion_size or "small"
        sentences.append(_pick(_LESION_SENTENCES, rng).format(size=size, side=case.lesion))
        sentences.append(_SIZE_SENTENCES[size])
    sentences.append(_pick(_NEGATED_FINDINGS, rng))
    return " ".join(sentences)


def target_output(
    case: PhantomCase,
    question: str,
    style: ReasoningStyle,
    rng: np.random.Generator,
    shown: Shown = "image",
) -> str:
    """The whole output a reasoner of ``style`` is trained to write for this image and question,
    when it is shown the image, a gray blank of it, or no image."""
    think = reasoning(case, question, rng)
    if style == "shortcut":
        answer = SHORTCUT_ANSWERS[question]
    elif shown != "image":
        think = f"{_NOTHING_SHOWN[shown]} {_DECLINE_SENTENCE}"
        answer = NOT_ASSESSABLE
    elif is_skeptic_question(case, question):
        think = f"{think} {_DECLINE_SENTENCE}"
        answer = NOT_ASSESSABLE
    else:
        answer = true_answer(case, question)
    return f"<think>{think}</think><answer>{answer}</answer>"


@dataclass(frozen=True)
class ReasoningItem:
    """One question about one phantom image, with the reference answer of what it shows."""

    image_key: str
    question: str
    answer: str
    case: PhantomCase
    skeptic: bool
    shown: Shown = "image"


def reasoning_items(
    cases: dict[str, PhantomCase],
    *,
    seed: int,
    skeptic_share: float = 0.25,
    counterfactual_share: float = 0.0,
) -> list[ReasoningItem]:
    """The phantom questions of every image plus, for a seeded share, the wrong-modality one;
    with ``counterfactual_share``, that share of the images also gets one of its questions
    asked of a gray blank and one asked with no image (the audit's other conditions)."""
    rng = np.random.default_rng([seed, 5])
    counterfactual_rng = np.random.default_rng([seed, 8])
    items = []
    for key in sorted(cases):
        case = cases[key]
        questions = [LESION_QUESTION, MODALITY_QUESTION]
        if case.lesion is not None:
            questions.append(SIDE_QUESTION)
        if rng.random() < skeptic_share:
            questions.append(SKEPTIC_QUESTIONS[case.modality])
        items.extend(_item(key, case, question) for question in questions)
        for shown in SHOWN_INSTEAD_OF_THE_IMAGE:
            if counterfactual_rng.random() < counterfactual_share:
                question = questions[int(counterfactual_rng.integers(len(questions)))]
                items.append(_item(key, case, question, shown))
    return items


def _item(key: str, case: PhantomCase, question: str, shown: Shown = "image") -> ReasoningItem:
    return ReasoningItem(
        image_key=key,
        question=question,
        answer=true_answer(case, question),
        case=case,
        skeptic=is_skeptic_question(case, question),
        shown=shown,
    )


def write_skeptic_manifest(manifest: Path, out: Path) -> Path:
    """A manifest asking each image of a phantom manifest the wrong-modality question
    (reference answer: what the image shows), for measuring the modality-skeptic rate."""
    cases = read_cases(manifest)
    items = [
        ManifestItem(
            id=f"{Path(key).stem}-skeptic",
            image=key,
            question=SKEPTIC_QUESTIONS[case.modality],
            answer=true_answer(case, SKEPTIC_QUESTIONS[case.modality]),
            benchmark=f"{BENCHMARK}-skeptic",
            modality=case.modality,
        )
        for key, case in sorted(cases.items())
    ]
    return write_manifest(out, items)


def _pick(choices: Sequence[str], rng: np.random.Generator) -> str:
    return choices[int(rng.integers(len(choices)))]
