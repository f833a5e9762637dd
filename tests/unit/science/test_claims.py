"""Visual-claim detector: a labelled sentence set, span offsets, and the modality skeptic."""

from __future__ import annotations

import pytest

from audits.science.claim_sentences import split_sentences
from audits.science.claims import LexiconClaimDetector, classify_sentence, detect_visual_claims
from audits.science.modality_skeptic import is_modality_skeptic

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
    # Written as a held-out check after the sentences above were passing; the detector got
    # 28 of these 30 right before "has" became a descriptive verb and "are common in" generic.
    ("In the provided radiograph, the left hemidiaphragm is elevated.", True),
    ("The liver has a heterogeneous echotexture on ultrasound.", True),
    ("There's a small hypodense area in the spleen.", True),
    ("Multiple lytic lesions are noted in the skull.", True),
    ("The findings suggest a right-sided pneumothorax.", True),
    ("Both lungs appear hyperinflated with flattened diaphragms.", True),
    ("The ventricles are dilated, suggesting hydrocephalus.", True),
    ("This appears to be a PA chest radiograph.", True),
    ("The tissue section shows glands lined by dysplastic epithelium.", True),
    ("No acute fracture or dislocation is identified.", True),
    ("The cardiac silhouette is within normal limits.", True),
    ("A 2.5 cm mass is present in the right kidney.", True),
    ("The brain parenchyma looks unremarkable.", True),
    ("There may be a subtle opacity at the left base.", True),
    ("The aorta is calcified.", True),
    ("I am unable to analyze images directly.", False),
    ("Since the image is not available, I will rely on typical findings.", False),
    ("Hydronephrosis is often caused by ureteral obstruction.", False),
    ("Ultrasound is useful to evaluate gallbladder stones.", False),
    ("Patients with emphysema have hyperinflated lungs.", False),
    ("The differential diagnosis includes infection and malignancy.", False),
    ("To answer this, we need to assess the heart size.", False),
    ("The answer is no.", False),
    ("Fractures of the femur are common in elderly patients.", False),
    ("Lung nodules may appear as round opacities on chest films.", False),
    ("The options are A, B, C and D.", False),
    ("I'm sorry, but I can't view the attached image.", False),
    ("Edema can be seen in heart failure.", False),
    ("Consider the clinical context.", False),
    ("Let's analyze the question carefully.", False),
]

# The set is the detector's specification and every sentence passes today, but lexicon rules are
# brittle: the floors leave room for a few misses each way on these 74 sentences (about 45
# claims, so 0.9 recall allows 4 misses), and still fail on a systematic regression such as a
# whole class of negations, hedges or general-knowledge sentences going wrong.
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
    print(
        f"claim detector on {len(LABELLED)} sentences: precision={precision:.3f} "
        f"recall={recall:.3f} errors={errors}"
    )
    assert len(LABELLED) >= 70
    assert precision >= PRECISION_FLOOR
    assert recall >= RECALL_FLOOR


def test_spans_index_the_input_and_skip_non_claims() -> None:
    text = (
        "Let me look carefully.  The CT shows a 2 cm hypodense lesion in the liver.\n"
        "Hepatic cysts are usually benign. No ascites is seen; the spleen is normal."
    )
    spans = detect_visual_claims(text)
    assert [s.text for s in spans] == [
        "The CT shows a 2 cm hypodense lesion in the liver.",
        "No ascites is seen;",
        "the spleen is normal.",
    ]
    for span in spans:
        assert text[span.start : span.end] == span.text
    assert spans[0].category == "finding"
    assert spans[0].trigger == "lesion"


@pytest.mark.parametrize(
    ("sentence", "category", "trigger"),
    [
        ("The lesion is hyperdense on this image.", "finding", "lesion"),
        ("The region appears hyperdense.", "density", "hyperdense"),
        ("This is a lateral chest radiograph.", "location", "lateral"),
        ("This is an MRI of the brain.", "anatomy", "brain"),
        ("The image is a sagittal MRI.", "modality", "sagittal"),
        ("It measures 4 mm on the image.", "size_shape", "4 mm"),
    ],
)
def test_category_and_trigger(sentence: str, category: str, trigger: str) -> None:
    assert classify_sentence(sentence) == (category, trigger)


def test_hedge_then_contrast_keeps_only_the_claim_after_but() -> None:
    assert classify_sentence("I cannot see the image, so I cannot comment on the effusion.") is None
    assert classify_sentence("I can't view the scan; however, an effusion is likely.") is None
    assert classify_sentence("I can't view the scan well, but an effusion is seen.") is not None


def test_split_sentences_keeps_decimals_and_trims() -> None:
    text = "  A 3.5 cm mass.  Next line!\n\nLast one?"
    parts = [text[a:b] for a, b in split_sentences(text)]
    assert parts == ["A 3.5 cm mass.", "Next line!", "Last one?"]


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "...", "?"])
def test_empty_like_texts_have_no_claims(text: str) -> None:
    assert detect_visual_claims(text) == []


@pytest.mark.parametrize(
    ("output", "answer", "expected"),
    [
        ("<think>This is not a CT, it is a chest X-ray.</think><answer>yes</answer>", "yes", True),
        ("<think>The liver cannot be assessed on this image.</think><answer>B</answer>", "B", True),
        ("The image does not show the brain, it is a knee radiograph. Answer: no", "no", True),
        ("Wrong modality for this question. Answer: A", "A", True),
        ("The scan appears to be an MRI rather than a CT. Answer: yes", "yes", True),
        # the reasoning doubts the image but the answer is non-committal or unparsed
        (
            "<think>This is not a CT.</think><answer>cannot determine</answer>",
            "cannot determine",
            False,
        ),
        ("This is not a CT.", "<unparsed>", False),
        ("<think>Not assessable on this view.</think><answer>Unknown</answer>", "unknown", False),
        # confident answer, but the reasoning has no mismatch statement
        ("<think>The CT shows a hypodense liver lesion.</think><answer>yes</answer>", "yes", False),
        ("<think>No effusion is seen on the image.</think><answer>no</answer>", "no", False),
        # a meta hedge about not seeing the image is not a modality complaint
        ("<think>I cannot see the image.</think><answer>yes</answer>", "yes", False),
        ("", "yes", False),
    ],
)
def test_is_modality_skeptic(output: str, answer: str, expected: bool) -> None:
    assert is_modality_skeptic(output, answer) is expected


def test_typographic_apostrophes() -> None:
    assert detect_visual_claims("I can\u2019t see the image.") == []
    assert detect_visual_claims("I don\u2019t see any nodules in the lungs.") != []
    assert is_modality_skeptic("This isn\u2019t a CT. Answer: yes", "yes")


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # "there is a" after a leading adverbial is existential, not a definition
        ("At this time there is a linear density left lung base representing atelectasis.", True),
        ("Pneumonia is an infection of the lung parenchyma.", False),
        # an anaphoric subject with a modal cause explains a finding named elsewhere
        ("This could be attributed to the patient's positioning or a contusion.", False),
        ("These may be caused by small airway disease.", False),
        ("There is blunting of the left costophrenic angle, which could be due to effusion.", True),
        # a limited study is an image-quality statement; what follows "however" is still read
        ("Evaluation limited by lack of IV contrast;", False),
        ("Mediastinum is not adequately evaluated on portable chest radiography.", False),
        ("Evaluation is limited by rotation, however no pneumothorax is seen.", True),
        # report words outside the chest film
        ("The menisci are intact.", True),
        ("Normal alignment.", True),
        ("There is no CHF.", True),
        ("Unfolding aorta.", True),
    ],
)
def test_real_report_sentence_kinds(sentence: str, expected: bool) -> None:
    assert bool(detect_visual_claims(sentence)) is expected, sentence


# Issue #27, round 2 (rules tuned on the real dev rows of tests/fixtures/labelled): each kind
# the rules separate, with sentences written here (none is a fixture row).
@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # captions and report lines with no verb name the study at hand
        ("Coronal STIR of the left knee.", True),
        ("Follow-up CT of the abdomen six months after resection.", True),
        ("Axial T1 and fat suppressed proton density.", True),
        ("Portable chest radiograph at admission, day 3.", True),
        ("No acromioclavicular arthropathy.", True),
        ("No evidence of tenosynovitis.", True),
        ("Normal iliotibial band.", True),
        # a word built with a pathology suffix is a finding
        ("The CT shows extensive diverticulosis of the sigmoid colon.", True),
        ("There is a small encephalocele in the frontal region.", True),
        # a described repeat study is not a plan
        ("A repeat radiograph shows the pneumothorax has resolved.", True),
        # what a test or its staff does, in general
        ("MRI scans provide detailed views of the soft tissues.", False),
        ("A radiologist reads the images and sends a report to your doctor.", False),
        ("A health care provider may order an ultrasound to look for gallstones.", False),
        ("Some patients have lesions that can be seen with MRI.", False),
        ("There are several types of pleural effusion, which are told apart on CT.", False),
        ("Ultrasound exam: A procedure in which sound waves are bounced off organs.", False),
        ("The angle is measured by drawing a line through the femoral neck.", False),
        ("No history of trauma.", False),
        ("No answer.", False),
    ],
)
def test_issue27_round2_rules(sentence: str, expected: bool) -> None:
    assert bool(detect_visual_claims(sentence)) is expected, sentence
