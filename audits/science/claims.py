"""Visual-claim detection: which sentences of a model's reasoning describe the image.

Deterministic and explainable (DESIGN.md section 3). The text is split into sentences; a
sentence is a claim when it attributes a lexicon term (finding, anatomy, appearance,
density/intensity, size/shape, location, modality) to the image:

- the term comes with a perception cue ("shows", "is seen", "there is", "I can see", ...) or
  an explicit deictic reference to the image ("this CT", "on the image", "here"); or
- the sentence describes this patient's anatomy ("The heart is enlarged", "The lungs are clear")
  or localizes a finding ("Bilateral pleural effusions").

Negated findings ("no effusion is seen") are claims: they assert what the image shows. Not claims:
questions; hedged meta statements about seeing the image ("I cannot see the image", "as an AI");
hypotheticals ("if there is an effusion ..."); and general clinical knowledge ("pneumonia is
usually treated with antibiotics"), unless the sentence also points at this image. A hedge
followed by "but"/"however" is judged on what follows ("I can't see the image well, but there
appears to be an effusion").

A detector is anything with ``detect(text) -> list[ClaimSpan]`` (``ClaimDetector``), so a judge
model can replace the lexicon later behind the same interface.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from audits.contracts.types import UNPARSED, ClaimSpan
from audits.science.parsing import normalize_answer, parse_output


class ClaimDetector(Protocol):
    def detect(self, text: str) -> list[ClaimSpan]: ...


def _term_pattern(term: str) -> str:
    """Regex for a lexicon term; spaces and hyphens are interchangeable ("x ray", "x-ray")."""
    words = (r"[\s\-]?".join(re.escape(part) for part in word.split("-")) for word in term.split())
    return r"[\s\-]+".join(words)


def _alternation(words: Iterable[str]) -> str:
    terms = sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True)
    return "|".join(_term_pattern(t) for t in terms)


def _terms(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


FINDINGS = _terms(
    """
    effusion, effusions, nodule, nodules, mass, masses, lesion, lesions, opacity,
    opacities, opacification, consolidation, consolidations, fracture, fractures,
    pneumothorax, cardiomegaly, edema, oedema, atelectasis, infiltrate, infiltrates,
    infiltration, calcification, calcifications, calcified, cyst, cysts, cystic, tumor,
    tumors, tumour, tumours, abscess, hemorrhage, haemorrhage, bleed, hematoma, haematoma,
    infarct, infarction, aneurysm, dissection, stenosis, occlusion, thrombus, embolus,
    emboli, embolism, pneumonia, pneumoperitoneum, free air, free fluid, air-fluid level,
    air-fluid levels, dilatation, obstruction, herniation, hernia, metastasis, metastases,
    lymphadenopathy, adenopathy, enlargement, thickening, scarring, fibrosis, emphysema,
    bulla, bullae, cavity, cavitation, granuloma, granulomas, mass effect, midline shift,
    collapse, blunting, widening, narrowing, displacement, deviation, erosion, destruction,
    dislocation, ascites, splenomegaly, hepatomegaly, hydronephrosis, hydrocephalus, stone,
    stones, calculus, calculi, polyp, ulcer, ulceration, diverticulitis, appendicitis,
    ileus, pneumatosis, ground-glass, reticulation, honeycombing, air bronchogram,
    air bronchograms, kerley lines, necrosis, inflammation, atypia, mitoses,
    mitotic figures, pleomorphism, hyperplasia, dysplasia, carcinoma, adenocarcinoma,
    lymphoma, granulation tissue, giant cells, lymphocytes, neutrophils, macrophages,
    keratin pearls, abnormality, abnormalities, foreign body, pacemaker, catheter,
    endotracheal tube, chest tube, stent, surgical clips, hardware, artifact, shadow,
    shadowing, infiltrative
    """
)
DENSITY = _terms(
    """
    hyperdense, hypodense, isodense, hyperintense, hypointense, isointense, hyperechoic,
    hypoechoic, anechoic, isoechoic, echogenic, hyperattenuating, hypoattenuating,
    radiopaque, radiolucent, lucent, lucency, lucencies, opaque, dense, densities, density,
    attenuation, enhancement, enhancing, signal intensity, high signal, low signal, bright,
    dark, sclerotic, lytic, eosinophilic, basophilic, hyperchromatic, hazy, haziness,
    whiteout
    """
)
SIZE_SHAPE = _terms(
    """
    round, rounded, oval, ovoid, irregular, spiculated, lobulated, smooth, well-defined,
    ill-defined, well-circumscribed, circumscribed, enlarged, large, small, tiny, massive,
    diffuse, focal, multifocal, multiple, solitary, wedge-shaped, linear, elongated,
    thickened, dilated, distended, collapsed, blunted, widened, narrowed, asymmetric,
    asymmetrical, patchy, nodular, reticular, heterogeneous, homogeneous, mottled, streaky,
    cavitary
    """
)
APPEARANCE = _terms(
    """
    normal, abnormal, clear, unremarkable, intact, preserved, obscured, silhouette,
    silhouetting, opacified, displaced, deviated, shifted, elevated, flattened,
    hyperinflated, hyperexpanded, expanded, aerated, well aerated, sharp, blurred, effaced,
    herniated
    """
)
LOCATION = _terms(
    """
    left, right, bilateral, bilaterally, unilateral, upper lobe, lower lobe, middle lobe,
    lingula, apex, apical, basal, bibasilar, base, bases, hilar, hilum, perihilar,
    peripheral, subpleural, retrocardiac, costophrenic, costophrenic angle,
    costophrenic angles, mediastinal, paratracheal, anterior, posterior, lateral, medial,
    superior, inferior, proximal, distal, cortical, subcortical, periventricular,
    frontal lobe, parietal lobe, temporal lobe, occipital lobe, right-sided, left-sided,
    midline, quadrant
    """
)
ANATOMY = _terms(
    """
    lung, lungs, heart, cardiac silhouette, liver, kidney, kidneys, spleen, brain, bone,
    bones, rib, ribs, spine, vertebra, vertebrae, vertebral body, pleura, pleural space,
    diaphragm, hemidiaphragm, trachea, bowel, colon, stomach, bladder, gallbladder,
    pancreas, aorta, ventricle, ventricles, sinus, sinuses, skull, femur, humerus, pelvis,
    hip, knee, shoulder, chest, abdomen, thorax, mediastinum, soft tissue, soft tissues,
    lung fields, lung field, lobe, hemithorax, airway, airways, esophagus, thyroid, breast,
    uterus, ovary, prostate, appendix, mucosa, epithelium, stroma, gland, glands, tissue,
    cells, nuclei, white matter, gray matter, grey matter, cortex, heart size, cardiac,
    pulmonary vasculature, vessels, clavicle, scapula, mandible, orbit, cerebellum,
    basal ganglia, sulci
    """
)
MODALITY = _terms(
    """
    x-ray, x-rays, xray, radiograph, radiographs, chest film, film, ct, ct scan,
    computed tomography, mri, mr image, magnetic resonance, ultrasound, sonogram,
    sonography, mammogram, angiogram, fluoroscopy, pet, pet-ct, histology,
    histological section, micrograph, photomicrograph, h&e, h&e stain, biopsy slide, axial,
    coronal, sagittal, pa view, ap view, lateral view, t1-weighted, t2-weighted, flair,
    contrast-enhanced
    """
)

CATEGORY_TERMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("finding", FINDINGS),
    ("density", DENSITY),
    ("size_shape", SIZE_SHAPE),
    ("appearance", APPEARANCE),
    ("location", LOCATION),
    ("anatomy", ANATOMY),
    ("modality", MODALITY),
)
"""Categories in priority order: a sentence's category is that of its highest-priority term."""

_SIZE_MEASURE = r"\d+(?:\.\d+)?\s*(?:mm|cm|millimet(?:er|re)s?|centimet(?:er|re)s?)\b"
_CATEGORY_RES = tuple(
    (
        name,
        re.compile(
            rf"(?<![\w-])(?:{_alternation(terms)}"
            + (f"|{_SIZE_MEASURE}" if name == "size_shape" else "")
            + r")(?![\w-])",
            re.IGNORECASE,
        ),
    )
    for name, terms in CATEGORY_TERMS
)
_TERM_RE = dict(_CATEGORY_RES)
_ANATOMY_RE = _TERM_RE["anatomy"]
_LOCATION_RE = _TERM_RE["location"]

_IMAGE_NOUNS = (
    r"(?:image|images|picture|scan|scans|film|radiograph|x-?ray|ct|mri|slice|view|section|"
    r"slide|micrograph|photomicrograph|ultrasound|sonogram|mammogram|angiogram|study|exam)"
)
_DEICTIC = re.compile(
    rf"\b(?:this|these|the|given|provided|current|attached|above|present)\s+(?:[\w\-]+\s+){{0,2}}"
    rf"{_IMAGE_NOUNS}\b|\b(?:this|it)\s+is\s+an?\s+(?:[\w\-]+\s+){{0,3}}{_IMAGE_NOUNS}\b"
    r"|\b(?:here|in this case|in this patient|on imaging|the patient's)\b",
    re.IGNORECASE,
)
_PERCEPTION = re.compile(
    r"\b(?:show|shows|showing|shown|demonstrates?|demonstrating|demonstrated|reveals?|revealing|"
    r"revealed|displays?|depicts?|depicted|seen|"
    r"i\s+(?:can\s+|could\s+|do\s+not\s+|don't\s+|cannot\s+|can't\s+)?"
    r"(?:see|notice|observe|identify)|we\s+(?:can\s+)?see|noted|notable|"
    r"visible|visuali[sz]ed|identified|observed|appears?|appearing|evident|apparent|"
    r"there\s+(?:is|are|was|were|appears?|seems?|may\s+be|might\s+be|could\s+be)|there's|"
    r"evidence\s+of|consistent\s+with|compatible\s+with|suggestive\s+of|looks?|findings?|"
    r"impression|highlighted|outlined|delineated|present)\b",
    re.IGNORECASE,
)
_DESCRIPTIVE = re.compile(
    r"\b(?:is|are|appears?|looks?|seems?|remains?|has|have|contains?)\b|\b(?:with|without)\b",
    re.IGNORECASE,
)
_DEFINITE_ANATOMY = re.compile(
    r"\b(?:the|this|both|left|right|bilateral)\s+(?:[\w\-]+\s+){0,2}$", re.IGNORECASE
)

_IMG = (
    r"(?:image|images|picture|pictures|scan|scans|film|radiograph|x-?ray|photo|photograph|"
    r"visuals?|visual\s+input|imaging)"
)
_HEDGES = re.compile(
    r"\b(?:can\s*not|can't|cannot|unable\s+to|not\s+able\s+to|don't|do\s+not|does\s+not|"
    r"doesn't|did\s+not|didn't|could\s+not|couldn't|am\s+not\s+able\s+to|have\s+no\s+way\s+to)\s+"
    r"(?:directly\s+|actually\s+|really\s+)?(?:see|view|access|open|analy[sz]e|interpret|"
    r"examine|look\s+at|evaluate|process|read|inspect)\s+(?:the|this|an|any|your|these|that)?"
    rf"\s*(?:actual\s+|provided\s+|attached\s+|uploaded\s+|medical\s+)?{_IMG}\b"
    rf"|\bwithout\s+(?:seeing|viewing|access\s+to|looking\s+at|having|an?\s+actual)?\s*"
    rf"(?:the|an|this|any|your)?\s*(?:actual\s+)?{_IMG}\b"
    r"|\bas\s+an\s+ai\b|\blanguage\s+model\b|\bi\s+am\s+an\s+ai\b|\bi'm\s+an\s+ai\b"
    rf"|\b{_IMG}\s+(?:is|was|has|have|were)\s+(?:not\s+|n't\s+)?(?:been\s+)?"
    r"(?:not\s+)?(?:provided|attached|available|shared|included|given|uploaded)"
    rf"|\bno\s+{_IMG}\s+(?:is\s+|was\s+|has\s+been\s+)?(?:provided|attached|available|shared|"
    r"included|given|uploaded)"
    rf"|\bi\s+(?:do\s+not|don't|cannot|can't)\s+have\s+(?:access\s+to\s+)?(?:the|an|this|any)\s+"
    rf"{_IMG}"
    rf"|\b(?:would|will)\s+need\s+(?:to\s+see\s+)?(?:the|an|this)\s+{_IMG}"
    r"|\bbased\s+(?:only\s+|solely\s+|purely\s+)?on\s+(?:the\s+)?(?:question|text|wording)",
    re.IGNORECASE,
)
_CONTRAST = re.compile(r"\b(?:but|however|although|though|yet|nevertheless)\b", re.IGNORECASE)
_HYPOTHETICAL = re.compile(
    r"\b(?:if|whether|unless|assuming|suppose|supposing|in\s+case)\b[^,;:]*", re.IGNORECASE
)
_GENERIC = re.compile(
    r"\b(?:typically|usually|generally|commonly|often|classically|characteristically|"
    r"frequently|in\s+general|tends?\s+to|is\s+defined\s+as|are\s+defined\s+as|refers?\s+to|"
    r"is\s+caused\s+by|are\s+caused\s+by|caused\s+by|treated|treatment|therapy|"
    r"associated\s+with|risk\s+factors?|most\s+common|is\s+a\s+common|is\s+a\s+type\s+of|"
    r"is\s+a\s+condition|characterized\s+by|known\s+as|patients|people|individuals|adults|"
    r"children|incidence|prevalence|prognosis|diagnosed\s+by|"
    r"(?:is|are)\s+(?:more\s+|less\s+|very\s+|most\s+)?(?:common|rare|frequent|uncommon)|"
    r"(?:can|could|would|may|might|will)\s+(?:be\s+)?(?:seen|visible|shown|show|reveal|"
    r"demonstrate|appear|visualized|identified|look|detected)|helps?\s+to|is\s+used|"
    r"are\s+used|useful|best\s+(?:test|modality|imaging)|modality\s+of\s+choice)\b",
    re.IGNORECASE,
)
_META_QUESTION = re.compile(
    r"\b(?:the\s+)?question\s+(?:asks|is\s+asking|is\s+about|refers|mentions|wants)\b|"
    r"\bthe\s+(?:options|choices)\s+(?:are|include)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?;][\"')\]])\s+|(?<=[.!?;])\s+|\n+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, trimmed of surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(text)))
    out = []
    for start, end in spans:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            out.append((start, end))
    return out


def _mask(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _first_term(sentence: str) -> tuple[str, str] | None:
    for name, pattern in _CATEGORY_RES:
        m = pattern.search(sentence)
        if m is not None:
            return name, m.group(0)
    return None


def _describes_anatomy(sentence: str) -> bool:
    """'The heart is enlarged': specific anatomy described with an appearance term."""
    if _DESCRIPTIVE.search(sentence) is None:
        return False
    has_appearance = any(
        _TERM_RE[name].search(sentence) is not None
        for name in ("finding", "density", "size_shape", "appearance")
    )
    if not has_appearance:
        return False
    return any(
        _DEFINITE_ANATOMY.search(sentence[: m.start()]) is not None
        for pattern in (_ANATOMY_RE, _LOCATION_RE)
        for m in pattern.finditer(sentence)
    )


def _localized_finding(sentence: str) -> bool:
    return _TERM_RE["finding"].search(sentence) is not None and (
        _LOCATION_RE.search(sentence) is not None
    )


def _plain_quotes(text: str) -> str:
    """Typographic apostrophes as ASCII ones (same length, so offsets are unchanged)."""
    return text.replace("\u2019", "'").replace("\u2018", "'")


def classify_sentence(sentence: str) -> tuple[str, str] | None:
    """(category, trigger term) when the sentence is a visual claim, else None."""
    body = _plain_quotes(sentence)
    if body.rstrip().endswith("?"):
        return None
    hedge = _HEDGES.search(body)
    if hedge is not None:
        contrast = _CONTRAST.search(body, hedge.end())
        if contrast is None:
            return None
        body = body[contrast.end() :]
        if _HEDGES.search(body) is not None:
            return None
    if _META_QUESTION.search(body) is not None:
        return None
    body = _mask(body, _HYPOTHETICAL)
    term = _first_term(body)
    if term is None:
        return None
    deictic = _DEICTIC.search(body) is not None
    if _GENERIC.search(body) is not None and not deictic:
        return None
    if term[0] == "modality" and not deictic:
        # A bare modality word is only a claim when it is said of this image ("this is a CT").
        return None
    if deictic or _PERCEPTION.search(body) is not None:
        return term
    if _describes_anatomy(body) or _localized_finding(body):
        return term
    return None


class LexiconClaimDetector:
    """The default detector: curated lexicon + perception cues, no model, no network."""

    def detect(self, text: str) -> list[ClaimSpan]:
        if not text:
            return []
        spans: list[ClaimSpan] = []
        for start, end in split_sentences(text):
            found = classify_sentence(text[start:end])
            if found is not None:
                category, trigger = found
                spans.append(
                    ClaimSpan(
                        start=start,
                        end=end,
                        text=text[start:end],
                        category=category,
                        trigger=trigger,
                    )
                )
        return spans


DEFAULT_DETECTOR: ClaimDetector = LexiconClaimDetector()


def detect_visual_claims(text: str) -> list[ClaimSpan]:
    """Visual-claim spans of ``text`` (offsets index ``text``) with the default detector."""
    return DEFAULT_DETECTOR.detect(text)


# --- modality skeptic ---------------------------------------------------------------------

_MODALITY_NAME = (
    r"(?:ct|ct\s+scan|mri|mr|x-?ray|radiograph|chest\s+film|ultrasound|sonogram|mammogram|"
    r"angiogram|pet(?:-ct)?|histology\s+slide|pathology\s+slide|slide|micrograph|"
    r"\w+\s+(?:ct|mri|x-?ray|radiograph|image|scan|film))"
)
_ORGANS = _alternation(ANATOMY)
_SKEPTIC = re.compile(
    rf"\b(?:this|it|the\s+(?:image|picture|scan|film|study))\s+(?:is\s+not|isn't|does\s+not\s+"
    rf"(?:appear|seem|look)\s+to\s+be|doesn't\s+(?:appear|seem|look)\s+to\s+be)\s+(?:an?\s+)?"
    rf"{_MODALITY_NAME}\b"
    rf"|\bnot\s+an?\s+{_MODALITY_NAME}\b"
    rf"|\b(?:rather|instead)\s+(?:than|of)\s+an?\s+{_MODALITY_NAME}\b"
    r"|\b(?:wrong|different|mismatched|incorrect)\s+(?:imaging\s+)?(?:modality|organ|body\s+part|"
    r"region|anatomy|image)\b"
    r"|\bmodality\s+(?:does\s+not|doesn't)\s+match\b"
    r"|\b(?:can\s*not|cannot|can't|could\s+not|not)\s+(?:be\s+)?(?:reliably\s+|properly\s+)?"
    r"(?:assessed|evaluated|determined|judged|visuali[sz]ed|characteri[sz]ed|answered)\s+"
    r"(?:on|from|in|with|using)\s+(?:this|the|a|an)\s+(?:\w+\s+){0,2}"
    r"(?:image|picture|scan|film|radiograph|x-?ray|ct|mri|view|study|slide|modality)\b"
    r"|\bnot\s+(?:assessable|evaluable|diagnostic)\b|\bnon-?diagnostic\b"
    r"|\b(?:image|picture|scan|film|view|study)\s+(?:is\s+not|isn't)\s+(?:suitable|appropriate|"
    r"adequate|sufficient)\b"
    r"|\b(?:does\s+not|doesn't|do\s+not|don't)\s+(?:match|correspond\s+to|fit)\s+the\s+question\b"
    r"|\b(?:question|image)\s+(?:and\s+(?:the\s+)?(?:image|question)\s+)?(?:do\s+not|don't|"
    r"does\s+not|doesn't)\s+match\b"
    rf"|\b(?:image|picture|scan|film|radiograph|study|view)\s+(?:does\s+not|doesn't)\s+"
    rf"(?:show|depict|include|contain|cover|image)\s+(?:the\s+|any\s+)?(?:{_ORGANS})(?![\w-])"
    rf"|\b(?:the\s+)?(?:{_ORGANS})\s+(?:is|are)\s+not\s+(?:visible|included|shown|depicted|"
    r"imaged|in\s+the\s+field\s+of\s+view)\s+(?:on|in)\s+(?:this|the)\s+(?:image|scan|film|study)",
    re.IGNORECASE,
)
_NONCOMMITTAL = re.compile(
    r"^(?:cannot|can\s+t|can\s+not|unable|not\s+(?:possible|sure|assessable|determinable|"
    r"determined|applicable|evaluable)|unknown|unsure|uncertain|indeterminate|insufficient|"
    r"undetermined|i\s+don\s+t\s+know|i\s+do\s+not\s+know|don\s+t\s+know|n\s+a|unclear|"
    r"impossible|no\s+answer)\b"
)


def is_modality_skeptic(output: str, answer: str) -> bool:
    """The reasoning says the image does not fit the question, yet the answer is committed.

    ``answer`` may be raw or normalized; it is committed unless it is ``UNPARSED`` or a
    non-committal answer ("cannot determine", "unknown", ...). Any committed answer counts
    (yes/no, option letter or open text).
    """
    if not output:
        return False
    normalized = normalize_answer(answer)
    if normalized == UNPARSED or _NONCOMMITTAL.match(normalized) is not None:
        return False
    reasoning = _plain_quotes(parse_output(output).reasoning)
    return bool(reasoning) and _SKEPTIC.search(reasoning) is not None
