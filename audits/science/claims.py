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
from dataclasses import dataclass
from typing import Protocol

from audits.contracts.types import ClaimSpan
from audits.science.claim_context import DEFAULT_CONTEXT, ConText
from audits.science.claim_lexicon import CATEGORY_ORDER
from audits.science.claim_patterns import (
    ANAPHORIC_CAUSE,
    ANATOMY_RE,
    ANSWER_HEADER,
    ANSWER_STATEMENT,
    ANSWER_TAG,
    ANSWER_TOKEN,
    CAPTION_MAX_LEAD,
    CAPTION_NEXT,
    CAPTION_OPENER,
    CLAUSE,
    CONTRAST,
    DEFINITIONAL,
    DEICTIC,
    DETERMINED,
    EXISTENTIAL_END,
    FINITE,
    GENERIC_PREFIX,
    GENERIC_SUBJECT,
    GLOSSARY,
    HEDGES,
    LEADING,
    META_START,
    MODALITY_RE,
    NOMINAL_MAX_WORDS,
    NOMINAL_VOCABULARY,
    PERCEPTION,
    REASON,
    REJECT_HEADER,
    REPORT_HEADER,
    RESTATED,
    SPECIFIC_WORDS,
    STRONG_RES,
    STUDY_HEAD_RE,
    STUDY_RUN,
    TAG,
    TERSE_MAX_WORDS,
    TERSE_NEGATED,
    TERSE_NORMAL,
    WEAK_RES,
    WORD,
)
from audits.science.claim_sentences import plain_quotes, split_sentences


class ClaimDetector(Protocol):
    def detect(self, text: str) -> list[ClaimSpan]: ...


def _is_bare_answer(text: str) -> bool:
    """A short answer phrase with no clause: "B", "yes", "left pleural effusion"."""
    words = re.findall(r"[\w'-]+", text)
    return len(words) <= 5 and CLAUSE.search(text) is None


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
        ("strong", STRONG_RES),
        ("weak", WEAK_RES),
        ("anatomy", (("anatomy", ANATOMY_RE),)),
        ("modality", (("modality", MODALITY_RE),)),
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
        body = LEADING.sub("", body).lstrip()
        header = ANSWER_HEADER.match(body)
        if header is not None:
            after_answer = True
            body = body[header.end() :]
        token = ANSWER_TOKEN.match(body)
        if token is not None:
            body = body[token.end() :]
        if body == before:
            return body, after_answer


def _is_generic_subject(body: str) -> bool:
    """A habitual statement about a bare plural kind ("Kerley B lines indicate edema")."""
    m = GENERIC_SUBJECT.match(body)
    if m is None:
        return False
    words = re.findall(r"[\w'-]+", m.group("subject").lower())
    return not any(w in SPECIFIC_WORDS or w[0].isdigit() for w in words)


def _is_caption(body: str) -> bool:
    """A verbless noun phrase headed by an imaging study ("Pelvic MRI at D0.").

    The first run of study words must name a study ("CT", "radiograph", "image") within the
    first few words and be followed by the end, punctuation, a preposition or a participle
    ("... of the abdomen", "... showing a mass") -- not by a verb ("CT scans provide ...").
    """
    if FINITE.search(body) is not None or CAPTION_OPENER.match(body) is not None:
        return False
    run = next(
        (m for m in STUDY_RUN.finditer(body) if STUDY_HEAD_RE.search(m.group(0)) is not None),
        None,
    )
    if run is None:
        return False
    if len(WORD.findall(body, 0, run.start())) > CAPTION_MAX_LEAD:
        return False
    return CAPTION_NEXT.match(body, run.end()) is not None


def _terse(body: str) -> tuple[str, str] | None:
    """(category, term) of a short verbless negated or normal report line."""
    words = WORD.findall(body)
    if not 1 < len(words) <= TERSE_MAX_WORDS:
        return None
    m = TERSE_NEGATED.match(body)
    if m is not None and FINITE.search(body, m.start("term")) is None:
        return "finding", m.group("term")
    m = TERSE_NORMAL.match(body)
    if m is not None and FINITE.search(body) is None:
        return "appearance", m.group("term")
    return None


def _is_nominal(body: str) -> bool:
    """A short noun phrase naming the study's modality, view or anatomy."""
    words = re.findall(r"[\w&'-]+", body.lower())
    return 0 < len(words) <= NOMINAL_MAX_WORDS and all(w in NOMINAL_VOCABULARY for w in words)


class LexiconClaimDetector:
    """The default detector: lexicon targets + ConText + sentence kinds; no model, no network."""

    def __init__(self, context: ConText = DEFAULT_CONTEXT) -> None:
        self.context = context

    def classify(self, sentence: str) -> tuple[str, str] | None:
        """(category, trigger term) when the sentence is a visual claim, else None."""
        body, after_answer = _strip_leading(plain_quotes(sentence).strip())
        if not body or not any(ch.isalpha() for ch in body):
            return None
        if after_answer and _is_bare_answer(body):
            return None
        if body.rstrip().endswith("?") or META_START.search(body) is not None:
            return None
        if REJECT_HEADER.search(body.lower()) is not None:
            return None
        need_cue = False
        hedge = HEDGES.search(body)
        if hedge is not None:
            contrast = CONTRAST.search(body, hedge.end())
            if contrast is None:
                return None
            body = body[contrast.end() :]
            if HEDGES.search(body) is not None:
                return None
            need_cue = True
        if RESTATED.search(body) is not None or ANAPHORIC_CAUSE.search(body) is not None:
            return None
        answer = ANSWER_STATEMENT.search(body)
        if answer is not None:
            reason = REASON.search(body, answer.end())
            if reason is None:
                return None
            body = body[reason.end() :]
            need_cue = True
        report = REPORT_HEADER.match(sentence) is not None
        return self._classify_body(body, need_cue, report)

    def _classify_body(self, body: str, need_cue: bool, report: bool) -> tuple[str, str] | None:
        if GLOSSARY.match(body) is not None:
            return None
        # A report's FINDINGS / IMPRESSION section, a verbless study line ("Frontal chest
        # radiograph.") and a caption ("Pelvic MRI at D0.") are about the study at hand.
        study_line = report or _is_nominal(body) or _is_caption(body)
        references = [m.group(0).lower() for m in DEICTIC.finditer(body)]
        deictic = study_line or bool(references)
        # "this image" and "here" point at the study at hand; "the images" alone may be any
        # images ("the images are interpreted by a radiologist"), so it does not outweigh a
        # generic trigger.
        pointed = study_line or any(not ref.startswith("the ") for ref in references)
        perception = PERCEPTION.search(body) is not None
        if need_cue and not (deictic or perception):
            return None
        if not deictic:
            prefix = GENERIC_PREFIX.match(body)
            if prefix is not None and DETERMINED.search(body, prefix.end()) is None:
                return None
            definitional = DEFINITIONAL.match(body)
            if definitional is not None and not EXISTENTIAL_END.search(
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
            for m in ANSWER_TAG.finditer(text)
            if _is_bare_answer(TAG.sub(" ", m.group(1)))
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
