"""Visual-claim detector: a labelled sentence set, span offsets, and the modality skeptic."""

from __future__ import annotations

import pytest

from audits.claims import (
    LexiconClaimDetector,
    classify_sentence,
    detect_visual_claims,
    is_modality_skeptic,
    split_sentences,
)

# (sentence, is a visual claim). Written from the kinds of reasoning radiology VLMs produce
# (VQA-RAD / SLAKE / PathVQA style), including the hard negatives the detector must reject.
LABELLED: list[tuple[str, bool]] = [
    # findings attributed to the image
    ("The chest X-ray shows a large left pleural effusion.", True),
    ("There is a 3 cm spiculated nodule in the right upper lobe.", True),
    ("The CT demonstrates a hypodense lesion in the liver.", True),
    ("I can see consolidation in the left lower lobe.", True),
    ("A pneumothorax is visible on the right side.", True),
    ("The image reveals cardiomegaly.", True),
    ("Bilateral pleural effusions.", True),
    ("The heart is enlarged.", True),
    ("The lungs are clear.", True),
    ("The costophrenic angles are blunted.", True),
    ("On this MRI, the lesion is hyperintense on T2.", True),
    ("The mass appears well-circumscribed and round.", True),
    ("This is an axial CT image of the abdomen.", True),
    ("Here we see a fracture of the distal radius.", True),
    ("The slide shows sheets of atypical cells with frequent mitoses.", True),
    ("There appears to be free air under the diaphragm.", True),
    ("The trachea is deviated to the left.", True),
    ("A radiopaque foreign body is seen in the stomach.", True),
    ("Looking at the image, the kidneys look normal in size.", True),
    ("I cannot see the image clearly, but there appears to be an effusion.", True),
    # negated findings are still claims about the image
    ("No pleural effusion is seen.", True),
    ("There is no pneumothorax.", True),
    ("No fracture is visible on this radiograph.", True),
    ("The image does not show any consolidation.", True),
    ("I don't see any nodules in the lungs.", True),
    # hedged / meta statements
    ("I cannot see the image.", False),
    ("Without the image, I can't tell whether there is an effusion.", False),
    ("As an AI, I am unable to view medical images.", False),
    ("No image was provided with the question.", False),
    ("I don't have access to the scan, so I will answer based on the question.", False),
    ("The question asks whether there is a pleural effusion.", False),
    ("If there is an effusion, the answer would be yes.", False),
    ("Is there a pneumothorax in the left lung?", False),
    ("Based only on the question text, the most likely answer is yes.", False),
    # general clinical knowledge, not about this image
    ("Pneumonia is usually treated with antibiotics.", False),
    ("Pleural effusions are commonly caused by heart failure.", False),
    ("A pneumothorax typically appears as a lucent area without lung markings.", False),
    ("CT is the modality of choice for detecting small nodules.", False),
    ("Cardiomegaly is defined as a cardiothoracic ratio above 0.5.", False),
    ("Smoking is a major risk factor for lung cancer.", False),
    ("MRI uses magnetic fields rather than ionizing radiation.", False),
    ("Let me think about this step by step.", False),
    ("Therefore, the answer is B.", False),
    ("The heart pumps blood to the rest of the body.", False),
]

# The set is the detector's specification; every sentence above passes today. The floors leave
# room for one miss each way on this 44-sentence set (about 0.95) while still failing on any
# systematic regression (a whole class of hedges or negations going wrong costs several).
PRECISION_FLOOR = 0.9
RECALL_FLOOR = 0.9


def test_labelled_set_precision_and_recall() -> None:
    detector = LexiconClaimDetector()
    tp = fp = fn = 0
    errors = []
    for sentence, expected in LABELLED:
        predicted = bool(detector.detect(sentence))
        tp += predicted and expected
        fp += predicted and not expected
        fn += expected and not predicted
        if predicted != expected:
            errors.append((sentence, expected))
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    print(f"claim detector on {len(LABELLED)} sentences: precision={precision:.3f} "
          f"recall={recall:.3f} errors={errors}")
    assert len(LABELLED) >= 40
    assert precision >= PRECISION_FLOOR
    assert recall >= RECALL_FLOOR
