"""A trained reference model on its held-out rows: accuracy against each question's
majority answer, image sensitivity (another image, the gray blank, no image), output length,
visual claims and, on wrong-modality questions, the modality-skeptic rate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel

from audits.backends.transformers_runtime import TransformersRuntime
from audits.contracts.backend import VLMInput
from audits.science.answer_extraction import final_answer
from audits.science.claims import detect_visual_claims
from audits.science.conditions.image_removal import blank_like, seeded_derangement
from audits.science.modality_skeptic import is_modality_skeptic
from audits.science.parsing import normalize_answer
from reference_models.training_examples import Example


class HeldoutEval(BaseModel):
    rows: int
    images: int
    accuracy: float
    majority_accuracy: float
    """Accuracy of always giving each question's most common training answer."""
    accuracy_by_question: dict[str, float]
    image_sensitivity: float
    """Share of rows whose greedy answer changes with another held-out row's image."""
    image_sensitivity_blank: float
    image_sensitivity_no_image: float | None = None
    """Answers that change with no image at all (a reasoner that declines changes them all)."""
    oracle_image_sensitivity: float
    """Share of rows whose reference answer differs for the shuffled image, where it has one."""
    mean_output_tokens: float
    visual_claim_rate: float
    """Share of real-image outputs with at least one visual claim."""
    skeptic_rows: int = 0
    modality_skeptic_rate: float | None = None
    """On wrong-modality questions: says the image does not fit, and answers anyway."""


def majority_answers(examples: Sequence[Example]) -> dict[str, str]:
    """Each question's most common normalized answer (ties broken alphabetically)."""
    counts: dict[str, Counter[str]] = {}
    for example in examples:
        counts.setdefault(example.question, Counter())[normalize_answer(example.answer)] += 1
    return {
        question: min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        for question, counter in counts.items()
    }


def generate_outputs(
    runtime: TransformersRuntime, inputs: Sequence[VLMInput], batch_size: int = 64
) -> list[str]:
    """Raw greedy outputs, in batches (the runtime's own token budget)."""
    outputs: list[str] = []
    for start in range(0, len(inputs), batch_size):
        outputs.extend(runtime.generate(inputs[start : start + batch_size]))
    return outputs


def generate_answers(
    runtime: TransformersRuntime, inputs: Sequence[VLMInput], batch_size: int = 64
) -> list[str]:
    """Normalized greedy final answers, in batches."""
    return [final_answer(output) for output in generate_outputs(runtime, inputs, batch_size)]


def evaluate_heldout(
    runtime: TransformersRuntime,
    heldout: Sequence[Example],
    majority: dict[str, str],
    *,
    seed: int,
) -> HeldoutEval:
    """Accuracy and IS on the phantom questions; the modality-skeptic rate on the wrong-modality
    questions, which have no answer to be accurate about."""
    heldout = [e for e in heldout if e.shown == "image"]
    skeptic = [e for e in heldout if e.skeptic]
    heldout = [e for e in heldout if not e.skeptic]
    truth = [normalize_answer(e.answer) for e in heldout]
    partners = seeded_derangement([e.image_key for e in heldout], seed)
    real_outputs = generate_outputs(runtime, [VLMInput(e.question, e.image) for e in heldout])
    real = [final_answer(output) for output in real_outputs]
    shuffled = generate_answers(
        runtime,
        [VLMInput(e.question, heldout[p].image) for e, p in zip(heldout, partners, strict=True)],
    )
    blanks = [VLMInput(e.question, blank_like(e.image)) for e in heldout]
    blanked = generate_answers(runtime, blanks)
    imageless = generate_answers(runtime, [VLMInput(e.question, None) for e in heldout])
    by_question: dict[str, list[bool]] = {}
    for example, answer, expected in zip(heldout, real, truth, strict=True):
        by_question.setdefault(example.question, []).append(answer == expected)
    answer_of = {(e.image_key, e.question): t for e, t in zip(heldout, truth, strict=True)}
    oracle = [
        answer_of[(heldout[p].image_key, e.question)] != t
        for e, t, p in zip(heldout, truth, partners, strict=True)
        if (heldout[p].image_key, e.question) in answer_of
    ]
    skeptic_outputs = generate_outputs(runtime, [VLMInput(e.question, e.image) for e in skeptic])
    tokenizer = runtime.processor.tokenizer
    n = len(heldout)
    return HeldoutEval(
        rows=n,
        images=len({e.image_key for e in heldout}),
        accuracy=sum(a == t for a, t in zip(real, truth, strict=True)) / n,
        majority_accuracy=sum(
            majority.get(e.question) == t for e, t in zip(heldout, truth, strict=True)
        )
        / n,
        accuracy_by_question={q: sum(v) / len(v) for q, v in sorted(by_question.items())},
        image_sensitivity=sum(a != b for a, b in zip(real, shuffled, strict=True)) / n,
        image_sensitivity_blank=sum(a != b for a, b in zip(real, blanked, strict=True)) / n,
        image_sensitivity_no_image=sum(a != b for a, b in zip(real, imageless, strict=True)) / n,
        oracle_image_sensitivity=sum(oracle) / len(oracle) if oracle else 0.0,
        mean_output_tokens=sum(
            len(tokenizer(output, add_special_tokens=False)["input_ids"]) for output in real_outputs
        )
        / n,
        visual_claim_rate=sum(bool(detect_visual_claims(o)) for o in real_outputs) / n,
        skeptic_rows=len(skeptic),
        modality_skeptic_rate=(
            sum(is_modality_skeptic(o, final_answer(o)) for o in skeptic_outputs) / len(skeptic)
            if skeptic
            else None
        ),
    )
