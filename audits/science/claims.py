"""Visual-claim detection: which sentences of a model output describe the image.

Deterministic and explainable (DESIGN.md section 3, "Visual-claim detection"). The unit is the
sentence, anywhere in the output (the reasoning block, an explanation after the answer, a short
answer that states a finding) except the bare answer token itself ("B", "yes", or a short answer
phrase inside ``<answer>`` tags or after "Answer:").

Pipeline, per sentence:

1. Sentence splitting: pysbd (rule-based, the splitter medspaCy ships with), run per line, plus a
   split at semicolons; offsets index the input.
2. Sentence kinds that are never claims: questions, meta/hedge statements ("I cannot see the
   image", "As an AI", "Please consult ..."), restated questions ("The question asks ..."), answer
   statements ("The right answer is C, consolidation." -- unless a reason about the image follows:
   "The answer is B because the CT shows a mass"), generic modality prefixes ("On T2-weighted
   MRI, fluid appears bright."), limited-study statements ("Evaluation limited by lack of IV
   contrast", "not adequately evaluated on portable radiography") and anaphoric cause statements
   ("This could be attributed to positioning or a contusion.").
   Glossary lines that define a kind of study ("PET scan: A procedure to find ...") are not
   claims either.
3. Targets: lexicon terms (``claim_lexicon``): findings, devices, density, size/shape,
   appearance/normal words, location, anatomy, modality/view; and any word built with a
   pathology suffix (-itis, -osis, -oma, -opathy, -ectasis, -megaly, -ocele ...).
4. Context: ConText (``claim_context``, Harkema et al. 2009) drops every target inside the scope
   of a historical, hypothetical/plan, experiencer or generic (textbook) trigger.
5. The sentence is a claim when an unmodified target remains that is specific enough: a strong
   term (finding, device, specific density/shape word, a measurement) alone -- radiology reports
   are terse ("Mild cardiomegaly.", "No pneumothorax."); negated findings are claims -- or a weak
   word (left, clear, normal, large) or anatomy with anatomy / a perception cue / a reference to
   the image; a modality or view only when said of this image ("This is an axial CT"). A
   sentence with no verb is a report line or a caption about the study at hand: a noun phrase
   headed by a study ("Pelvic MRI at D0.", "Contrast enhanced CT, portal phase.", "Sagittal T2
   counting scan.") names it, and a short negated or normal line is a claim whatever its noun
   ("No bony coalition.", "Normal pubic symphysis."). "The images" alone does not outweigh a
   generic trigger; "this image", "here", a report section or a caption does.

A detector is anything with ``detect(text) -> list[ClaimSpan]`` (``ClaimDetector``), so a judge
model can replace the rules behind the same interface.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import pysbd

from audits.contracts.types import UNPARSED, ClaimSpan
from audits.science.claim_context import DEFAULT_CONTEXT, ConText
from audits.science.claim_lexicon import (
    ANATOMY,
    CATEGORY_ORDER,
    LOCATION,
    MODALITY,
    NOMINAL_STUDY_WORDS,
    STRONG_CATEGORIES,
    WEAK_CATEGORIES,
)
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


def _term_re(terms: Iterable[str], extra: str = "") -> re.Pattern[str]:
    body = _alternation(terms) + (f"|{extra}" if extra else "")
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)


_SIZE_MEASURE = (
    r"(?:\d+(?:\.\d+)?\s*(?:x\s*\d+(?:\.\d+)?\s*)?|(?:one|two|three|four|five|six|seven|eight|"
    r"nine|ten|a\s+few|several|half\s+a)\s+)(?:mm|cm|ml|millimet(?:er|re)s?|centimet(?:er|re)s?)\b"
)

# Pathology nouns are built from a handful of suffixes ("synovitis", "stenosis", "biloma",
# "tendinopathy", "bronchiectasis", "encephalocele"): a word with one of them is a finding even
# when the term lists lack it. Words of the same shape that name no lesion are left out.
_FINDING_SUFFIX = (
    r"(?!(?:diagnos[ie]s|prognos[ie]s|stroma|stoma|coma|aroma|diploma|hypnosis|osmosis|"
    r"symbiosis|genesis|emphasis|thesis|analysis|synthesis|basis)(?![\w-]))"
    r"[a-z]{2,}(?:itis|osis|oses|omas?|omata|opathy|opathies|ectasis|ectases|ectasia|megaly|"
    r"iasis|ocele|oceles|plasia|trophy|rrhage|rrhages|lithiasis|agenesis)"
)
_EXTRA = {"size_shape": _SIZE_MEASURE, "finding": _FINDING_SUFFIX}
_STRONG_RES = tuple(
    (name, _term_re(terms, _EXTRA.get(name, ""))) for name, terms in STRONG_CATEGORIES
)
_WEAK_RES = tuple((name, _term_re(terms)) for name, terms in WEAK_CATEGORIES)
_ANATOMY_RE = _term_re(ANATOMY)
_MODALITY_RE = _term_re(MODALITY)

_IMAGE_NOUNS = (
    r"(?:image|images|picture|scan|scans|film|radiograph|x-?ray|ct|mri|slice|view|section|"
    r"slide|micrograph|photomicrograph|ultrasound|sonogram|mammogram|angiogram|study|exam|cxr)"
)
_DEICTIC = re.compile(
    rf"\b(?:this|these|the|given|provided|current|attached|above|present)\s+(?:[\w\-]+\s+){{0,2}}"
    rf"{_IMAGE_NOUNS}\b|\b(?:this|it)\s+(?:is|appears\s+to\s+be|seems\s+to\s+be)\s+"
    rf"(?:an?\s+)?(?:[\w\-]+\s+){{0,3}}(?:{_IMAGE_NOUNS}|plane)\b"
    r"|\b(?:here|in\s+this\s+case|in\s+this\s+patient|on\s+imaging|the\s+patient's)\b"
    r"|^\s*(?:yes|no)?[,.]?\s*(?:this|it)\s+(?:is|shows|appears|looks|seems)\b"
    r"|\b(?:is|are)\s+(?:displayed|shown)\b"
    r"|^(?:[\w-]+\s+){0,3}(?:views?|projections?|films?|radiographs?)\s+of\s+the\b",
    re.IGNORECASE,
)
_PERCEPTION = re.compile(
    r"\b(?:show|shows|showing|shown|demonstrates?|demonstrating|demonstrated|reveals?|revealing|"
    r"revealed|displays?|depicts?|depicted|seen|"
    r"i\s+(?:can\s+|could\s+|do\s+not\s+|don't\s+|cannot\s+|can't\s+)?"
    r"(?:see|notice|observe|identify)|(?:we|you)\s+(?:can\s+)?see|noted|notable|"
    r"visible|visuali[sz]ed|identified|observed|appears?|appearing|evident|apparent|"
    r"there\s+(?:is|are|was|were|appears?|seems?|may\s+be|might\s+be|could\s+be)|there's|"
    r"evidence\s+of|consistent\s+with|compatible\s+with|suggestive\s+of|looks?|"
    r"impression|highlighted|outlined|delineated|present|located|measures?|measuring|"
    r"appearances?|(?:is|are)\s+(?:also\s+)?shown)\b",
    re.IGNORECASE,
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
    r"|\bbased\s+(?:only\s+|solely\s+|purely\s+)?on\s+(?:the\s+)?(?:question|text|wording)"
    r"|\b(?:i'm|i\s+am)\s+(?:sorry|not\s+(?:able|sure|a\s+doctor))"
    r"|\b(?:cannot|can't|can\s+not|unable\s+to)\s+(?:give|provide|make|offer)\s+(?:a\s+|any\s+)?"
    r"(?:specific\s+|definitive\s+|medical\s+)?(?:diagnosis|interpretation|answer|opinion)"
    r"|\bi\s+can\s+help\s+you\b"
    # the study is limited: image quality, not a finding ("Evaluation limited by lack of IV
    # contrast", "... is limited on this projection", "not adequately evaluated on portable ...")
    r"|\b(?:evaluation|assessment|visuali[sz]ation|interpretation)\b[\w\s-]{0,40}?\b(?:is\s+|was\s+)?"
    r"limited\s+(?:by|due|because|on|in|secondary)\b"
    r"|\bnot\s+(?:adequately|well|fully|optimally)\s+(?:evaluated|assessed|visuali[sz]ed)\b",
    re.IGNORECASE,
)
_CONTRAST = re.compile(r"\b(?:but|however|although|though|yet|nevertheless)\b", re.IGNORECASE)
_META_START = re.compile(
    r"^(?:please|let\s+me|let's|let\s+us|i\s+will|i'll|i\s+need\s+to|we\s+need\s+to|"
    r"first,?\s+(?:let|we|i)|step\s+\d|can\s+you|could\s+you|how\s+do|what\s+|why\s+|"
    r"which\s+)\b",
    re.IGNORECASE,
)
_RESTATED = re.compile(
    r"\b(?:the\s+)?question\s+(?:asks|is\s+asking|is\s+about|is\s+whether|is\s+which|"
    r"is\s+what|refers|mentions|wants|states|says)\b|\bwe\s+(?:are|were)\s+asked\b"
    r"|\b(?:asked|asks)\s+(?:to|whether|if|which|what)\b"
    r"|\bthe\s+(?:options|choices)\s+(?:are|include)\b|\bchoose\s+(?:from|between|among)\b",
    re.IGNORECASE,
)
_ANSWER_STATEMENT = re.compile(
    r"\b(?:the\s+|my\s+)?(?:right|correct|best|final|most\s+likely|likely)?\s*"
    r"(?:answer|option|choice)\s*(?:is|would\s+be|should\s+be|=|:)"
    r"|\bfinal\s+answer\b"
    r"|\bi\s+(?:would|will|'d|'ll)?\s*(?:choose|select|pick|go\s+with)\b"
    r"|\b(?:option|choice)\s+\(?[A-E]\)?(?![\w-])",
    re.IGNORECASE,
)
_REASON = re.compile(
    r"\b(?:because|since|as|given\s+that|due\s+to\s+the|which\s+shows?)\b", re.IGNORECASE
)
_GENERIC_PREFIX = re.compile(
    r"^(?:on|in|with)\s+(?:[\w-]+\s+){0,2}(?:mri|mr|ct|radiographs?|x-?rays?|ultrasound|"
    r"images|imaging|films?|sequences?)\s*,",
    re.IGNORECASE,
)
_DETERMINED = re.compile(r"\b(?:the|this|these|there|a|an|it|its)\b", re.IGNORECASE)
_DEFINITIONAL = re.compile(
    r"^(?!(?:the|this|that|these|those|there|it|its|here|a|an|one|some|both|no|yes|in|on|based|"
    r"i|we|you)\b)(?P<subject>[\w\s/-]{1,60}?)\s(?:is|are)\s+(?:a|an)\s+(?!\d)",
    re.IGNORECASE,
)
# "At this time there is a ...", "Again there is a ...": existential, not a definition.
_EXISTENTIAL_END = re.compile(r"\b(?:there|here)\s*$", re.IGNORECASE)
# An anaphoric subject with a modal cause ("This could be attributed to ...", "These may be
# caused by ...") explains a finding named elsewhere: a cause / differential statement.
_ANAPHORIC_CAUSE = re.compile(
    r"^(?:this|these|that|those|it|they|which|the\s+(?:finding|findings|appearance|abnormality|"
    r"change|changes))\s+(?:\w+\s+)?(?:could|may|might|can|would)\s+(?:also\s+)?(?:be\s+)?"
    r"(?:due|caused|related|attributed|attributable|secondary|explained|the\s+result)\b",
    re.IGNORECASE,
)
# A bare plural subject ("Kerley B lines", "Pleural effusions") with a habitual verb
# ("indicate", "represent", "are ... that reflect") states what such things are in general; a
# specific one ("Bibasilar opacities represent atelectasis") names where, how big or how new.
_HABITUAL = (
    r"(?:indicate|represent|reflect|suggest|signify|denote|cause|occur|mimic|tend|require|"
    r"result\s+from|arise|develop|appear\s+as|present\s+as|are\s+(?:an?\s+)?(?:[\w-]+\s+){0,8}"
    r"(?:that|which)\s+(?:reflect|represent|indicate|suggest|signify|occur|cause|result))"
)
_GENERIC_SUBJECT = re.compile(
    rf"^(?P<subject>(?:[a-z][\w'-]*\s+){{0,3}}[a-z][\w'-]*s)\s+{_HABITUAL}\b", re.IGNORECASE
)
_SPECIFIC_WORDS = frozenset(
    word for term in LOCATION for word in re.findall(r"[\w'-]+", term.lower())
) | frozenset(
    re.findall(
        r"\w+",
        "no the this these those there a an both its their new old stable small large mild "
        "moderate severe tiny few several multiple residual increased decreased worsening "
        "improved persistent scattered other remaining visualized visible",
    )
)
_LEADING = re.compile(
    r"^(?:\s|[-*\u2022>#]+\s|\(?\d{1,2}[.)]\s|(?:human|assistant|user|gpt|model|ai)\s*:|"
    r"(?:findings|finding|impression|impressions|conclusion|interpretation|report|results?|"
    r"rationale|reasoning|explanation|opinion)\s*:)+",
    re.IGNORECASE,
)
# A short sentence made only of modality, view and anatomy words ("Frontal chest radiograph.",
# "Lateral view.", "Axial CT image of the abdomen.") is a report-style statement about the
# study at hand, like "Mild cardiomegaly.".
_NOMINAL_VOCABULARY = frozenset(
    word
    for term in (*MODALITY, *ANATOMY, *LOCATION)
    for word in re.findall(r"[\w&'-]+", term.lower())
) | frozenset(NOMINAL_STUDY_WORDS)
_NOMINAL_MAX_WORDS = 9
# A finite verb, an auxiliary or a modal. A sentence with none is a noun phrase -- a caption or a
# report line, said of the study at hand; a sentence with one is a statement whose subject and
# verb decide what it is about.
_FINITE = re.compile(
    r"\b(?:is|are|was|were|be|been|being|am|can|cannot|could|may|might|must|shall|should|will|"
    r"would|do|does|did|has|have|had|isn't|aren't|wasn't|weren't|can't|won't|doesn't|don't)\b",
    re.IGNORECASE,
)
# A caption or a report title: a noun phrase headed by an imaging study ("Pelvic MRI at D0.",
# "Contrast enhanced CT, portal phase.", "Chest radiograph at presentation.", "CT of the abdomen
# showing ..."). Like "Frontal chest radiograph." it names the study at hand.
_STUDY_HEAD = (
    r"(?:ct|mri|mr|cxr|x-?rays?|radiographs?|radiography|mammograms?|mammography|ultrasound|"
    r"ultrasonography|sonograms?|sonography|angiograms?|angiography|arteriography|venograms?|"
    r"cystograms?|pyelograms?|tomography|scans?|images?|views?|projections?|reconstructions?|"
    r"sections?|slices?|films?|sequences?|spect(?:/ct)?|pet(?:[/-]ct)?|mip)"
)
_STUDY_WORD = rf"(?:{_STUDY_HEAD}|{_alternation(MODALITY)})"
# A run of study words ("CT", "CT scan", "coronal CT image"); a caption is judged by the first
# run that names a study and by what follows it.
_STUDY_RUN = re.compile(
    rf"(?<![\w-]){_STUDY_WORD}(?:[\s-]+{_STUDY_WORD})*(?![\w-])(?:\s*\([^)]*\))?",
    re.IGNORECASE,
)
_STUDY_HEAD_RE = re.compile(rf"(?<![\w-]){_STUDY_HEAD}(?![\w-])", re.IGNORECASE)
_CAPTION_NEXT = re.compile(
    r"\s*$|\s*[,.:;(\u2013\u2014-]|\s+(?:of|at|in|on|with|from|after|before|through|during|for|"
    r"following|obtained|performed|taken|made|showing|demonstrating|revealing|depicting|"
    r"displaying|illustrating|and|findings|appearances?|features|day|days|week|weeks|month|"
    r"months|year|years|\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve)\b",
    re.IGNORECASE,
)
_CAPTION_MAX_LEAD = 6
_WORD = re.compile(r"\w[\w']*(?:-\w+)*")
_CAPTION_OPENER = re.compile(
    r"^(?:if|when|whether|because|although|while|since|unless|to|you|your|we|they|he|she|it|"
    r"some|many|most|other|others|each|every|all|on|in|with|at|for|from|by|as|after|before|"
    r"during|based)\b",
    re.IGNORECASE,
)
# A glossary line defines a kind of study: "PET scan (...): A procedure to find ...",
# "Chest x-ray : An x-ray of the organs and bones inside the chest."
_GLOSSARY = re.compile(
    r"^[^:]{1,80}:\s*(?:a|an)\s+(?:[\w-]+\s+){0,2}?(?:procedure|test|exam|examination|type|kind|"
    r"form|method|technique|x-?ray|scan|imaging|study|tool|device|machine|picture)\b",
    re.IGNORECASE,
)
# Terse report lines with no verb: "No bony coalition.", "No evidence of synovitis.", "Normal
# pubic symphysis." -- negated or normal statements about the study, whatever the noun.
_TERSE_MAX_WORDS = 8
_TERSE_NEGATED = re.compile(
    r"^(?:there\s+(?:is|are)\s+)?(?:also\s+)?no\s+(?:evidence\s+of\s+)?(?:any\s+)?"
    r"(?!(?:answer|image|images|comment|idea|option|choice|way|one|need|doubt|further|more|"
    r"longer|history|symptoms?|complaints?|pain|fever|allerg\w*|known|family|previous|prior)\b)"
    r"(?P<term>[a-z][\w-]*)",
    re.IGNORECASE,
)
_TERSE_NORMAL = re.compile(
    r"^(?P<term>normal|unremarkable|preserved|intact)\s+(?!(?:saline|range|values?|results?|"
    r"levels?|people|persons?|individuals|aging|ageing|variants?|limits)\b)[a-z]",
    re.IGNORECASE,
)
_REPORT_HEADER = re.compile(r"^\W*(?:findings|impressions?)\s*:", re.IGNORECASE)
_ANSWER_HEADER = re.compile(r"^(?:final\s+)?answer\s*[:：]\s*", re.IGNORECASE)
_ANSWER_TOKEN = re.compile(
    r"^(?:\(?[A-Ea-e]\)[.:,]?\s*|[A-E][.:,](?:\s+|$)|yes\b[,.!:;]?\s*|no\s*[,.!:;]\s*)",
    re.IGNORECASE,
)
_REJECT_HEADER = re.compile(r"^(?:comparison|technique|dictated|signed|exam|examination)\s*:")
_CLAUSE = re.compile(
    r"\b(?:is|are|was|were|there|shows?|seen|noted|appears?|has|have|demonstrates?|reveals?|"
    r"because|with|without)\b",
    re.IGNORECASE,
)
_SEMICOLON = re.compile(r";\s+")
_TAG = re.compile(r"</?\s*(?:think|answer|reasoning|thinking|output|response)\s*>", re.IGNORECASE)
_ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.IGNORECASE | re.DOTALL)

_THREAD_STATE = threading.local()


def _segmenter() -> pysbd.Segmenter:
    """This thread's pysbd segmenter: ``Segmenter.segment`` keeps the text it is splitting on
    the instance, so one shared segmenter hands concurrent callers each other's sentences."""
    segmenter = getattr(_THREAD_STATE, "segmenter", None)
    if segmenter is None:
        segmenter = _THREAD_STATE.segmenter = pysbd.Segmenter(language="en", clean=False)
    return segmenter


def _regex_sentences(text: str, offset: int) -> list[tuple[int, int]]:
    """pysbd's sentences of one line, mapped back onto offsets (pysbd keeps the text verbatim)."""
    out: list[tuple[int, int]] = []
    pos = 0
    for segment in _segmenter().segment(text):
        piece = segment.strip()
        if not piece:
            continue
        at = text.find(piece, pos)
        if at < 0:  # pysbd altered the text: fall back to the rest of the line as one sentence
            out.append((offset + pos, offset + len(text)))
            return out
        out.append((offset + at, offset + at + len(piece)))
        pos = at + len(piece)
    return out


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, trimmed of surrounding whitespace.

    Lines and tag boundaries (``<think>``, ``</answer>`` ...) end sentences; within a line pysbd
    splits (abbreviations and decimals such as "Dr.", "vs.", "3.5 cm" stay inside); a semicolon
    also ends a clause-sentence.
    """
    masked = _TAG.sub(lambda m: "\n" * len(m.group(0)), text)
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in masked.split("\n"):
        if line.strip():
            for start, end in _regex_sentences(line, pos):
                cut = start
                for m in _SEMICOLON.finditer(masked, start, end):
                    spans.append((cut, m.start() + 1))
                    cut = m.end()
                spans.append((cut, end))
        pos += len(line) + 1
    out = []
    for start, end in spans:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start and any(ch.isalnum() for ch in text[start:end]):
            out.append((start, end))
    return out


def _plain_quotes(text: str) -> str:
    """Typographic apostrophes as ASCII ones (same length, so offsets are unchanged)."""
    return text.replace("\u2019", "'").replace("\u2018", "'")


def _is_bare_answer(text: str) -> bool:
    """A short answer phrase with no clause: "B", "yes", "left pleural effusion"."""
    words = re.findall(r"[\w'-]+", text)
    return len(words) <= 5 and _CLAUSE.search(text) is None


@dataclass(frozen=True)
class _Target:
    category: str
    term: str
    start: int
    end: int
    strength: str  # "strong" | "weak" | "anatomy" | "modality"


def _targets(body: str) -> list[_Target]:
    found: list[_Target] = []
    for strength, table in (
        ("strong", _STRONG_RES),
        ("weak", _WEAK_RES),
        ("anatomy", (("anatomy", _ANATOMY_RE),)),
        ("modality", (("modality", _MODALITY_RE),)),
    ):
        for name, pattern in table:
            for m in pattern.finditer(body):
                found.append(_Target(name, m.group(0), m.start(), m.end(), strength))
    # A longer term wins over a term inside it ("lateral view" over "lateral").
    found.sort(key=lambda t: (t.start, -(t.end - t.start)))
    kept: list[_Target] = []
    for t in found:
        inside = kept and kept[-1].start <= t.start and t.end <= kept[-1].end
        if inside and (t.end - t.start) < (kept[-1].end - kept[-1].start):
            continue
        kept.append(t)
    return kept


def _strip_leading(body: str) -> tuple[str, bool]:
    """Drop bullets, turn markers, section headers and a leading answer token.

    Returns the rest and whether it followed an "Answer:" header.
    """
    after_answer = False
    while True:
        before = body
        body = _LEADING.sub("", body).lstrip()
        header = _ANSWER_HEADER.match(body)
        if header is not None:
            after_answer = True
            body = body[header.end() :]
        token = _ANSWER_TOKEN.match(body)
        if token is not None:
            body = body[token.end() :]
        if body == before:
            return body, after_answer


def _is_generic_subject(body: str) -> bool:
    """A habitual statement about a bare plural kind ("Kerley B lines indicate edema")."""
    m = _GENERIC_SUBJECT.match(body)
    if m is None:
        return False
    words = re.findall(r"[\w'-]+", m.group("subject").lower())
    return not any(w in _SPECIFIC_WORDS or w[0].isdigit() for w in words)


def _is_caption(body: str) -> bool:
    """A verbless noun phrase headed by an imaging study ("Pelvic MRI at D0.").

    The first run of study words must name a study ("CT", "radiograph", "image") within the
    first few words and be followed by the end, punctuation, a preposition or a participle
    ("... of the abdomen", "... showing a mass") -- not by a verb ("CT scans provide ...").
    """
    if _FINITE.search(body) is not None or _CAPTION_OPENER.match(body) is not None:
        return False
    run = next(
        (m for m in _STUDY_RUN.finditer(body) if _STUDY_HEAD_RE.search(m.group(0)) is not None),
        None,
    )
    if run is None:
        return False
    if len(_WORD.findall(body, 0, run.start())) > _CAPTION_MAX_LEAD:
        return False
    return _CAPTION_NEXT.match(body, run.end()) is not None


def _terse(body: str) -> tuple[str, str] | None:
    """(category, term) of a short verbless negated or normal report line."""
    words = _WORD.findall(body)
    if not 1 < len(words) <= _TERSE_MAX_WORDS:
        return None
    m = _TERSE_NEGATED.match(body)
    if m is not None and _FINITE.search(body, m.start("term")) is None:
        return "finding", m.group("term")
    m = _TERSE_NORMAL.match(body)
    if m is not None and _FINITE.search(body) is None:
        return "appearance", m.group("term")
    return None


def _is_nominal(body: str) -> bool:
    """A short noun phrase naming the study's modality, view or anatomy."""
    words = re.findall(r"[\w&'-]+", body.lower())
    return 0 < len(words) <= _NOMINAL_MAX_WORDS and all(w in _NOMINAL_VOCABULARY for w in words)


class LexiconClaimDetector:
    """The default detector: lexicon targets + ConText + sentence kinds; no model, no network."""

    def __init__(self, context: ConText = DEFAULT_CONTEXT) -> None:
        self.context = context

    def classify(self, sentence: str) -> tuple[str, str] | None:
        """(category, trigger term) when the sentence is a visual claim, else None."""
        body, after_answer = _strip_leading(_plain_quotes(sentence).strip())
        if not body or not any(ch.isalpha() for ch in body):
            return None
        if after_answer and _is_bare_answer(body):
            return None
        if body.rstrip().endswith("?") or _META_START.search(body) is not None:
            return None
        if _REJECT_HEADER.search(body.lower()) is not None:
            return None
        need_cue = False
        hedge = _HEDGES.search(body)
        if hedge is not None:
            contrast = _CONTRAST.search(body, hedge.end())
            if contrast is None:
                return None
            body = body[contrast.end() :]
            if _HEDGES.search(body) is not None:
                return None
            need_cue = True
        if _RESTATED.search(body) is not None or _ANAPHORIC_CAUSE.search(body) is not None:
            return None
        answer = _ANSWER_STATEMENT.search(body)
        if answer is not None:
            reason = _REASON.search(body, answer.end())
            if reason is None:
                return None
            body = body[reason.end() :]
            need_cue = True
        report = _REPORT_HEADER.match(sentence) is not None
        return self._classify_body(body, need_cue, report)

    def _classify_body(self, body: str, need_cue: bool, report: bool) -> tuple[str, str] | None:
        if _GLOSSARY.match(body) is not None:
            return None
        # A report's FINDINGS / IMPRESSION section, a verbless study line ("Frontal chest
        # radiograph.") and a caption ("Pelvic MRI at D0.") are about the study at hand.
        study_line = report or _is_nominal(body) or _is_caption(body)
        references = [m.group(0).lower() for m in _DEICTIC.finditer(body)]
        deictic = study_line or bool(references)
        # "this image" and "here" point at the study at hand; "the images" alone may be any
        # images ("the images are interpreted by a radiologist"), so it does not outweigh a
        # generic trigger.
        pointed = study_line or any(not ref.startswith("the ") for ref in references)
        perception = _PERCEPTION.search(body) is not None
        if need_cue and not (deictic or perception):
            return None
        if not deictic:
            prefix = _GENERIC_PREFIX.match(body)
            if prefix is not None and _DETERMINED.search(body, prefix.end()) is None:
                return None
            definitional = _DEFINITIONAL.match(body)
            if definitional is not None and not _EXISTENTIAL_END.search(
                definitional.group("subject")
            ):
                return None
            if _is_generic_subject(body):
                return None
        modifiers = self.context.modifiers(body)
        # A terse negated or normal line is a claim even when the lexicon lacks its noun.
        terse = _terse(body)
        if terse is not None and self.context.categories_for(modifiers, 0, len(body)):
            terse = None
        targets = [
            t
            for t in _targets(body)
            if not self.context.categories_for(modifiers, t.start, t.end)
            # a generic trigger does not outweigh an explicit reference to this image
            or (pointed and self.context.categories_for(modifiers, t.start, t.end) == {"GENERIC"})
        ]
        if not targets:
            return terse
        kinds = {t.strength for t in targets}
        strong_finding = any(t.strength == "strong" for t in targets)
        qualifying: list[_Target] = []
        for t in targets:
            if t.strength == "strong":
                ok = True
            elif t.strength == "weak":
                ok = (
                    "anatomy" in kinds
                    or strong_finding
                    or deictic
                    or perception
                    or (sum(1 for x in targets if x.strength == "weak") >= 2)
                )
            elif t.strength == "anatomy":
                ok = deictic or perception or "weak" in kinds or strong_finding
            else:
                ok = deictic
            if ok:
                qualifying.append(t)
        if not qualifying:
            return terse
        best = min(qualifying, key=lambda t: (CATEGORY_ORDER.index(t.category), t.start))
        return best.category, best.term

    def detect(self, text: str) -> list[ClaimSpan]:
        if not text:
            return []
        skip = [
            (m.start(1), m.end(1))
            for m in _ANSWER_TAG.finditer(text)
            if _is_bare_answer(_TAG.sub(" ", m.group(1)))
        ]
        spans: list[ClaimSpan] = []
        for start, end in split_sentences(text):
            if any(a <= start and end <= b for a, b in skip):
                continue
            found = self.classify(text[start:end])
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


def classify_sentence(sentence: str) -> tuple[str, str] | None:
    """(category, trigger term) when the sentence is a visual claim, else None."""
    return LexiconClaimDetector.classify(DEFAULT_DETECTOR, sentence)  # type: ignore[arg-type]


def detect_visual_claims(text: str) -> list[ClaimSpan]:
    """Visual-claim spans of ``text`` (offsets index ``text``) with the default detector.

    ``text`` may be a whole model output: tags are sentence boundaries and a bare answer token
    (inside ``<answer>`` tags or after "Answer:") is never a claim.
    """
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
