"""The compiled patterns of visual-claim detection (``claims``): lexicon terms, pathology
suffixes, deictic and perception cues, hedges, captions, terse report lines and answer markers."""

from __future__ import annotations

import re
from collections.abc import Iterable

from audits.science.claim_lexicon import (
    ANATOMY,
    LOCATION,
    MODALITY,
    NOMINAL_STUDY_WORDS,
    STRONG_CATEGORIES,
    WEAK_CATEGORIES,
)


def term_pattern(term: str) -> str:
    """Regex for a lexicon term; spaces and hyphens are interchangeable ("x ray", "x-ray")."""
    words = (r"[\s\-]?".join(re.escape(part) for part in word.split("-")) for word in term.split())
    return r"[\s\-]+".join(words)


def alternation(words: Iterable[str]) -> str:
    terms = sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True)
    return "|".join(term_pattern(t) for t in terms)


def term_re(terms: Iterable[str], extra: str = "") -> re.Pattern[str]:
    body = alternation(terms) + (f"|{extra}" if extra else "")
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)


SIZE_MEASURE = (
    r"(?:\d+(?:\.\d+)?\s*(?:x\s*\d+(?:\.\d+)?\s*)?|(?:one|two|three|four|five|six|seven|eight|"
    r"nine|ten|a\s+few|several|half\s+a)\s+)(?:mm|cm|ml|millimet(?:er|re)s?|centimet(?:er|re)s?)\b"
)

# Pathology nouns are built from a handful of suffixes ("synovitis", "stenosis", "biloma",
# "tendinopathy", "bronchiectasis", "encephalocele"): a word with one of them is a finding even
# when the term lists lack it. Words of the same shape that name no lesion are left out.
FINDING_SUFFIX = (
    r"(?!(?:diagnos[ie]s|prognos[ie]s|stroma|stoma|coma|aroma|diploma|hypnosis|osmosis|"
    r"symbiosis|genesis|emphasis|thesis|analysis|synthesis|basis)(?![\w-]))"
    r"[a-z]{2,}(?:itis|osis|oses|omas?|omata|opathy|opathies|ectasis|ectases|ectasia|megaly|"
    r"iasis|ocele|oceles|plasia|trophy|rrhage|rrhages|lithiasis|agenesis)"
)
EXTRA = {"size_shape": SIZE_MEASURE, "finding": FINDING_SUFFIX}
STRONG_RES = tuple((name, term_re(terms, EXTRA.get(name, ""))) for name, terms in STRONG_CATEGORIES)
WEAK_RES = tuple((name, term_re(terms)) for name, terms in WEAK_CATEGORIES)
ANATOMY_RE = term_re(ANATOMY)
MODALITY_RE = term_re(MODALITY)

IMAGE_NOUNS = (
    r"(?:image|images|picture|scan|scans|film|radiograph|x-?ray|ct|mri|slice|view|section|"
    r"slide|micrograph|photomicrograph|ultrasound|sonogram|mammogram|angiogram|study|exam|cxr)"
)
DEICTIC = re.compile(
    rf"\b(?:this|these|the|given|provided|current|attached|above|present)\s+(?:[\w\-]+\s+){{0,2}}"
    rf"{IMAGE_NOUNS}\b|\b(?:this|it)\s+(?:is|appears\s+to\s+be|seems\s+to\s+be)\s+"
    rf"(?:an?\s+)?(?:[\w\-]+\s+){{0,3}}(?:{IMAGE_NOUNS}|plane)\b"
    r"|\b(?:here|in\s+this\s+case|in\s+this\s+patient|on\s+imaging|the\s+patient's)\b"
    r"|^\s*(?:yes|no)?[,.]?\s*(?:this|it)\s+(?:is|shows|appears|looks|seems)\b"
    r"|\b(?:is|are)\s+(?:displayed|shown)\b"
    r"|^(?:[\w-]+\s+){0,3}(?:views?|projections?|films?|radiographs?)\s+of\s+the\b",
    re.IGNORECASE,
)
PERCEPTION = re.compile(
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

IMG = (
    r"(?:image|images|picture|pictures|scan|scans|film|radiograph|x-?ray|photo|photograph|"
    r"visuals?|visual\s+input|imaging)"
)
HEDGES = re.compile(
    r"\b(?:can\s*not|can't|cannot|unable\s+to|not\s+able\s+to|don't|do\s+not|does\s+not|"
    r"doesn't|did\s+not|didn't|could\s+not|couldn't|am\s+not\s+able\s+to|have\s+no\s+way\s+to)\s+"
    r"(?:directly\s+|actually\s+|really\s+)?(?:see|view|access|open|analy[sz]e|interpret|"
    r"examine|look\s+at|evaluate|process|read|inspect)\s+(?:the|this|an|any|your|these|that)?"
    rf"\s*(?:actual\s+|provided\s+|attached\s+|uploaded\s+|medical\s+)?{IMG}\b"
    rf"|\bwithout\s+(?:seeing|viewing|access\s+to|looking\s+at|having|an?\s+actual)?\s*"
    rf"(?:the|an|this|any|your)?\s*(?:actual\s+)?{IMG}\b"
    r"|\bas\s+an\s+ai\b|\blanguage\s+model\b|\bi\s+am\s+an\s+ai\b|\bi'm\s+an\s+ai\b"
    rf"|\b{IMG}\s+(?:is|was|has|have|were)\s+(?:not\s+|n't\s+)?(?:been\s+)?"
    r"(?:not\s+)?(?:provided|attached|available|shared|included|given|uploaded)"
    rf"|\bno\s+{IMG}\s+(?:is\s+|was\s+|has\s+been\s+)?(?:provided|attached|available|shared|"
    r"included|given|uploaded)"
    rf"|\bi\s+(?:do\s+not|don't|cannot|can't)\s+have\s+(?:access\s+to\s+)?(?:the|an|this|any)\s+"
    rf"{IMG}"
    rf"|\b(?:would|will)\s+need\s+(?:to\s+see\s+)?(?:the|an|this)\s+{IMG}"
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
CONTRAST = re.compile(r"\b(?:but|however|although|though|yet|nevertheless)\b", re.IGNORECASE)
META_START = re.compile(
    r"^(?:please|let\s+me|let's|let\s+us|i\s+will|i'll|i\s+need\s+to|we\s+need\s+to|"
    r"first,?\s+(?:let|we|i)|step\s+\d|can\s+you|could\s+you|how\s+do|what\s+|why\s+|"
    r"which\s+)\b",
    re.IGNORECASE,
)
RESTATED = re.compile(
    r"\b(?:the\s+)?question\s+(?:asks|is\s+asking|is\s+about|is\s+whether|is\s+which|"
    r"is\s+what|refers|mentions|wants|states|says)\b|\bwe\s+(?:are|were)\s+asked\b"
    r"|\b(?:asked|asks)\s+(?:to|whether|if|which|what)\b"
    r"|\bthe\s+(?:options|choices)\s+(?:are|include)\b|\bchoose\s+(?:from|between|among)\b",
    re.IGNORECASE,
)
ANSWER_STATEMENT = re.compile(
    r"\b(?:the\s+|my\s+)?(?:right|correct|best|final|most\s+likely|likely)?\s*"
    r"(?:answer|option|choice)\s*(?:is|would\s+be|should\s+be|=|:)"
    r"|\bfinal\s+answer\b"
    r"|\bi\s+(?:would|will|'d|'ll)?\s*(?:choose|select|pick|go\s+with)\b"
    r"|\b(?:option|choice)\s+\(?[A-E]\)?(?![\w-])",
    re.IGNORECASE,
)
REASON = re.compile(
    r"\b(?:because|since|as|given\s+that|due\s+to\s+the|which\s+shows?)\b", re.IGNORECASE
)
GENERIC_PREFIX = re.compile(
    r"^(?:on|in|with)\s+(?:[\w-]+\s+){0,2}(?:mri|mr|ct|radiographs?|x-?rays?|ultrasound|"
    r"images|imaging|films?|sequences?)\s*,",
    re.IGNORECASE,
)
DETERMINED = re.compile(r"\b(?:the|this|these|there|a|an|it|its)\b", re.IGNORECASE)
DEFINITIONAL = re.compile(
    r"^(?!(?:the|this|that|these|those|there|it|its|here|a|an|one|some|both|no|yes|in|on|based|"
    r"i|we|you)\b)(?P<subject>[\w\s/-]{1,60}?)\s(?:is|are)\s+(?:a|an)\s+(?!\d)",
    re.IGNORECASE,
)
# "At this time there is a ...", "Again there is a ...": existential, not a definition.
EXISTENTIAL_END = re.compile(r"\b(?:there|here)\s*$", re.IGNORECASE)
# An anaphoric subject with a modal cause ("This could be attributed to ...", "These may be
# caused by ...") explains a finding named elsewhere: a cause / differential statement.
ANAPHORIC_CAUSE = re.compile(
    r"^(?:this|these|that|those|it|they|which|the\s+(?:finding|findings|appearance|abnormality|"
    r"change|changes))\s+(?:\w+\s+)?(?:could|may|might|can|would)\s+(?:also\s+)?(?:be\s+)?"
    r"(?:due|caused|related|attributed|attributable|secondary|explained|the\s+result)\b",
    re.IGNORECASE,
)
# A bare plural subject ("Kerley B lines", "Pleural effusions") with a habitual verb
# ("indicate", "represent", "are ... that reflect") states what such things are in general; a
# specific one ("Bibasilar opacities represent atelectasis") names where, how big or how new.
HABITUAL = (
    r"(?:indicate|represent|reflect|suggest|signify|denote|cause|occur|mimic|tend|require|"
    r"result\s+from|arise|develop|appear\s+as|present\s+as|are\s+(?:an?\s+)?(?:[\w-]+\s+){0,8}"
    r"(?:that|which)\s+(?:reflect|represent|indicate|suggest|signify|occur|cause|result))"
)
GENERIC_SUBJECT = re.compile(
    rf"^(?P<subject>(?:[a-z][\w'-]*\s+){{0,3}}[a-z][\w'-]*s)\s+{HABITUAL}\b", re.IGNORECASE
)
SPECIFIC_WORDS = frozenset(
    word for term in LOCATION for word in re.findall(r"[\w'-]+", term.lower())
) | frozenset(
    re.findall(
        r"\w+",
        "no the this these those there a an both its their new old stable small large mild "
        "moderate severe tiny few several multiple residual increased decreased worsening "
        "improved persistent scattered other remaining visualized visible",
    )
)
LEADING = re.compile(
    r"^(?:\s|[-*\u2022>#]+\s|\(?\d{1,2}[.)]\s|(?:human|assistant|user|gpt|model|ai)\s*:|"
    r"(?:findings|finding|impression|impressions|conclusion|interpretation|report|results?|"
    r"rationale|reasoning|explanation|opinion)\s*:)+",
    re.IGNORECASE,
)
# A short sentence made only of modality, view and anatomy words ("Frontal chest radiograph.",
# "Lateral view.", "Axial CT image of the abdomen.") is a report-style statement about the
# study at hand, like "Mild cardiomegaly.".
NOMINAL_VOCABULARY = frozenset(
    word
    for term in (*MODALITY, *ANATOMY, *LOCATION)
    for word in re.findall(r"[\w&'-]+", term.lower())
) | frozenset(NOMINAL_STUDY_WORDS)
NOMINAL_MAX_WORDS = 9
# A finite verb, an auxiliary or a modal. A sentence with none is a noun phrase -- a caption or a
# report line, said of the study at hand; a sentence with one is a statement whose subject and
# verb decide what it is about.
FINITE = re.compile(
    r"\b(?:is|are|was|were|be|been|being|am|can|cannot|could|may|might|must|shall|should|will|"
    r"would|do|does|did|has|have|had|isn't|aren't|wasn't|weren't|can't|won't|doesn't|don't)\b",
    re.IGNORECASE,
)
# A caption or a report title: a noun phrase headed by an imaging study ("Pelvic MRI at D0.",
# "Contrast enhanced CT, portal phase.", "Chest radiograph at presentation.", "CT of the abdomen
# showing ..."). Like "Frontal chest radiograph." it names the study at hand.
STUDY_HEAD = (
    r"(?:ct|mri|mr|cxr|x-?rays?|radiographs?|radiography|mammograms?|mammography|ultrasound|"
    r"ultrasonography|sonograms?|sonography|angiograms?|angiography|arteriography|venograms?|"
    r"cystograms?|pyelograms?|tomography|scans?|images?|views?|projections?|reconstructions?|"
    r"sections?|slices?|films?|sequences?|spect(?:/ct)?|pet(?:[/-]ct)?|mip)"
)
STUDY_WORD = rf"(?:{STUDY_HEAD}|{alternation(MODALITY)})"
# A run of study words ("CT", "CT scan", "coronal CT image"); a caption is judged by the first
# run that names a study and by what follows it.
STUDY_RUN = re.compile(
    rf"(?<![\w-]){STUDY_WORD}(?:[\s-]+{STUDY_WORD})*(?![\w-])(?:\s*\([^)]*\))?",
    re.IGNORECASE,
)
STUDY_HEAD_RE = re.compile(rf"(?<![\w-]){STUDY_HEAD}(?![\w-])", re.IGNORECASE)
CAPTION_NEXT = re.compile(
    r"\s*$|\s*[,.:;(\u2013\u2014-]|\s+(?:of|at|in|on|with|from|after|before|through|during|for|"
    r"following|obtained|performed|taken|made|showing|demonstrating|revealing|depicting|"
    r"displaying|illustrating|and|findings|appearances?|features|day|days|week|weeks|month|"
    r"months|year|years|\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve)\b",
    re.IGNORECASE,
)
CAPTION_MAX_LEAD = 6
WORD = re.compile(r"\w[\w']*(?:-\w+)*")
CAPTION_OPENER = re.compile(
    r"^(?:if|when|whether|because|although|while|since|unless|to|you|your|we|they|he|she|it|"
    r"some|many|most|other|others|each|every|all|on|in|with|at|for|from|by|as|after|before|"
    r"during|based)\b",
    re.IGNORECASE,
)
# A glossary line defines a kind of study: "PET scan (...): A procedure to find ...",
# "Chest x-ray : An x-ray of the organs and bones inside the chest."
GLOSSARY = re.compile(
    r"^[^:]{1,80}:\s*(?:a|an)\s+(?:[\w-]+\s+){0,2}?(?:procedure|test|exam|examination|type|kind|"
    r"form|method|technique|x-?ray|scan|imaging|study|tool|device|machine|picture)\b",
    re.IGNORECASE,
)
# Terse report lines with no verb: "No bony coalition.", "No evidence of synovitis.", "Normal
# pubic symphysis." -- negated or normal statements about the study, whatever the noun.
TERSE_MAX_WORDS = 8
TERSE_NEGATED = re.compile(
    r"^(?:there\s+(?:is|are)\s+)?(?:also\s+)?no\s+(?:evidence\s+of\s+)?(?:any\s+)?"
    r"(?!(?:answer|image|images|comment|idea|option|choice|way|one|need|doubt|further|more|"
    r"longer|history|symptoms?|complaints?|pain|fever|allerg\w*|known|family|previous|prior)\b)"
    r"(?P<term>[a-z][\w-]*)",
    re.IGNORECASE,
)
TERSE_NORMAL = re.compile(
    r"^(?P<term>normal|unremarkable|preserved|intact)\s+(?!(?:saline|range|values?|results?|"
    r"levels?|people|persons?|individuals|aging|ageing|variants?|limits)\b)[a-z]",
    re.IGNORECASE,
)
REPORT_HEADER = re.compile(r"^\W*(?:findings|impressions?)\s*:", re.IGNORECASE)
ANSWER_HEADER = re.compile(r"^(?:final\s+)?answer\s*[:：]\s*", re.IGNORECASE)
ANSWER_TOKEN = re.compile(
    r"^(?:\(?[A-Ea-e]\)[.:,]?\s*|[A-E][.:,](?:\s+|$)|yes\b[,.!:;]?\s*|no\s*[,.!:;]\s*)",
    re.IGNORECASE,
)
REJECT_HEADER = re.compile(r"^(?:comparison|technique|dictated|signed|exam|examination)\s*:")
CLAUSE = re.compile(
    r"\b(?:is|are|was|were|there|shows?|seen|noted|appears?|has|have|demonstrates?|reveals?|"
    r"because|with|without)\b",
    re.IGNORECASE,
)
SEMICOLON = re.compile(r";\s+")
TAG = re.compile(r"</?\s*(?:think|answer|reasoning|thinking|output|response)\s*>", re.IGNORECASE)
ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.IGNORECASE | re.DOTALL)
