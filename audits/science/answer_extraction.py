"""The committed final answer of a real output, for the question's kind."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from audits.contracts.types import UNPARSED
from audits.science.open_answers import OPEN_STOPWORDS
from audits.science.parsing import (
    _LONE_LETTER,
    ARTICLES,
    NO_WORDS,
    YES_WORDS,
    _canonical_tokens,
    _letters,
    _outside_think,
    _strip_tags,
    _think_region,
    normalize_answer,
    parse_output,
)

#
# DESIGN.md section 3, "Final answers from real outputs". ``parse_output`` finds where the
# answer part is (a tag, an "Answer:" line, a short output, or the text outside the think
# block); ``extract_answer`` then finds the *committed* answer inside it for the question kind:
#
# - ``closed`` (yes/no): an explicit commitment ("the answer is no"), else the verdict that opens
#   the answer ("Yes, the diaphragm is obscured", "No, there is no ...", "是", "Sí", "Nein"),
#   else the polarity of the first sentence ("There is no pneumothorax." -> no).
# - ``mc`` (options given): the last commitment ("the best answer is D", "I would choose B",
#   "\boxed{B}", "The correct option is C", "C is the right answer"), else a letter that opens
#   the answer ("C. Because ...", "B - Pneumothorax"), else the option whose text the answer
#   names. A letter is only read where it is written as a letter: "A round opacity" is not A.
# - ``open``: the committed span ("the answer is X"), else the first sentence of the answer.
# - kind ``None`` (unknown): a verdict, else a committed letter, else the open rule.
#
# - ``set`` (a fixed answer set without letters, e.g. a modality list): the admissible answer the
#   committed span names, exactly one of them.
#
# ``UNPARSED`` is returned for outputs that commit to no answer: empty, a think block that was
# never followed by an answer, a refusal or boilerplate ("I'm sorry, I cannot ...", "As an AI"),
# an empty or garbled answer tag ("<answer> focal is seen in the leftanswer>"), and, for a closed
# question (yes/no, lettered options, a fixed answer set), answer text that is none of the
# admissible answers. Such text is never read as "yes" by default.

Kind = Literal["closed", "mc", "open", "set"]

_CLOSED_QUESTION = re.compile(
    r"^\W*(?:is|are|am|does|do|did|can|could|was|were|has|have|had|will|would|should|shall|"
    r"may|might|must|isn'?t|aren'?t|doesn'?t|don'?t)\b",
    re.IGNORECASE,
)

_TURN_MARKER = re.compile(
    r"^\s*(?:#{1,4}\s*)?(?:human|assistant|gpt|user|bot|model|response|ai)\s*[:：]\s*",
    re.IGNORECASE,
)
_LATER_TURN = re.compile(
    r"\n\s*(?:#{1,4}\s*)?(?:human|user|question|instruction)\s*[:：]", re.IGNORECASE
)
_REFUSAL = re.compile(
    r"^\W*(?:i\s*'?\s*m\s+sorry|i\s+am\s+sorry|sorry\b|i\s+apologi[sz]e|"
    r"i\s*(?:'|’)?\s*m\s+(?:unable|not\s+able)|"
    r"i\s+(?:cannot|can\s*not|can'?t|am\s+unable|am\s+not\s+able|"
    r"do\s+not\s+have|don'?t\s+have|won'?t\s+be\s+able)|"
    r"as\s+an\s+ai\b|as\s+a\s+(?:large\s+)?language\s+model|unfortunately,?\s+i\b|"
    r"please\s+consult|it\s+is\s+(?:important|best)\s+to\s+consult)",
    re.IGNORECASE,
)
_REQUEST = re.compile(
    r"^\W*(?:please\b|can\s+you\b|could\s+you\b|would\s+you\b|how\s+do\s+(?:you|i)\b|"
    r"let\s+me\s+know\b|i\s+(?:have|am|was|want|need|would\s+like|'m\s+(?:using|looking))\b|"
    r"feel\s+free\b|if\s+you\s+have\b)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<!\d)(?<!\b[A-Za-z])[.!?](?=\s|$)|[。！？\n]")
_LETTER_AFTER = (
    r"(?:because|since|as|is|which|that|would|with|for|given|due|and|but|was|seems|appears|"
    r"in|from|since)"
)
_LETTER_TOKEN = re.compile(
    r"^[\s*_\"'`]*(?:(?:option|choice|answer)\s*[:#]?\s*)?"
    r"(?:[(\[{]\s*(?P<p>[A-Za-z])\s*[)\]}]|(?P<l>[A-Za-z])(?![\w'’-]))"
    r"(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_COMMIT = re.compile(
    r"(?:\\boxed\s*\{\s*(?:\\text(?:bf)?\s*\{)?(?P<boxed>[^{}]*)\}"
    r"|\b(?:(?:the|my|our)\s+)?(?:final|correct|right|best|true|most\s+(?:likely|appropriate|"
    r"accurate|probable|correct)|likely|appropriate)?\s*(?:answer|option|choice|response|答案)"
    r"(?:\s+(?:here|to\s+(?:this|the)\s+question))?\s*(?:is|would\s+be|will\s+be|should\s+be|"
    r"must\s+be|=|[:：])\s*(?:that\s+)?(?P<ans>[^\n]*)"
    r"|\bI\s*(?:would|will|'d|'ll|)\s*(?:choose|select|pick|go\s+with|opt\s+for|say)\s*[:：]?\s*"
    r"(?P<chose>[^\n]*)"
    r"|\b(?:therefore|thus|hence|so)\b\s*,?\s*(?:the\s+answer\s+is\s*)?(?P<so>(?-i:\(?[A-E]\)?)(?=\W|$)"
    r"|option\s+[A-E]\b))",
    re.IGNORECASE,
)
_BOXED = re.compile(r"\\boxed\s*\{\s*(?:\\text(?:bf)?\s*\{)?([^{}]*)\}")
_COMMIT_AFTER = re.compile(
    r"(?:^|(?<=[\s(*]))(?:option\s+|choice\s+)?\(?(?P<letter>[A-E])\)?\*{0,2}\s+(?:is|would\s+be|"
    r"seems|appears)\s+(?:to\s+be\s+)?(?:the\s+)?(?:most\s+)?(?:correct|right|best|likely|"
    r"appropriate|accurate)\b"
)
_FOREIGN_YES = r"(?:sí|si|sì|sim|oui|ja|jawohl|是的|是|有的|有|对|對|正确|はい)"
_FOREIGN_NO = r"(?:não|nao|non|nein|no|没有|沒有|不是|否|无|無|不|错误|いいえ)"
_VERDICT_START = re.compile(
    r"^[\s*_\"'`>\-]*(?:(?P<yes>yes|yeah|yep|correct|true|affirmative|" + _FOREIGN_YES + r")"
    r"|(?P<no>no|nope|not\s+(?:really|at\s+all)|false|incorrect|negative|" + _FOREIGN_NO + r"))"
    r"(?=$|[\s,.;:!?，。！、）)*_\"'`]|(?<=[^\x00-\x7f]))",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:no|not|none|without|absent|absence|negative|free\s+of|neither|nor|never|"
    r"unremarkable|cannot\s+be\s+seen|isn'?t|aren'?t|doesn'?t|don'?t|didn'?t|wasn'?t|weren'?t|"
    r"hasn'?t|haven'?t)\b",
    re.IGNORECASE,
)
_HEDGE = re.compile(
    r"\b(?:cannot\s+be\s+(?:determined|assessed|evaluated)|can\s*not\s+(?:determine|tell|say|"
    r"assess)|can'?t\s+(?:determine|tell|say|assess)|unclear|uncertain|not\s+possible\s+to|"
    r"difficult\s+to\s+(?:determine|say|tell|assess)|unable\s+to\s+(?:determine|tell|assess)|"
    r"not\s+sure|indeterminate)\b",
    re.IGNORECASE,
)
_GARBLED_TAG = re.compile(
    r"(?:answer|think)\s*>|<\s*/?\s*(?:answer|think)|<\s*/?\s*[a-z]{0,5}$", re.IGNORECASE
)
"""A broken tag inside an answer tag's content: a model that lost its format mid-answer."""
_LEADING_FILLER = re.compile(
    r"^\s*(?:(?:based\s+on|according\s+to|from|looking\s+at|in)\s+(?:the|this)\s+"
    r"(?:image|images|scan|picture|radiograph|x-?ray|ct|mri|findings)(?:\s+provided)?\s*,\s*)",
    re.IGNORECASE,
)


def question_kind(
    question: str | None = None,
    options: Mapping[str, str] | None = None,
    reference: str | None = None,
    answer_set: Sequence[str] | None = None,
) -> Kind | None:
    """``"mc"`` with options, ``"set"`` with a fixed answer set (``"closed"`` when that set is
    yes/no), ``"closed"`` for yes/no questions, ``"open"`` otherwise.

    Closed: the reference is yes/no, or (no reference) the question opens with an auxiliary
    verb ("Is ...", "Does ...") and offers no alternatives ("... CT or MRI?"). ``None`` when
    nothing is known (no question, options or reference).
    """
    if options:
        return "mc"
    if answer_set:
        normalized = {normalize_answer(answer) for answer in answer_set}
        return "closed" if normalized <= {"yes", "no"} else "set"
    if reference is not None:
        ref = normalize_answer(reference)
        if ref in ("yes", "no"):
            return "closed"
        if ref != UNPARSED:
            return "open"
    if question and question.strip():
        if _CLOSED_QUESTION.match(question) and not re.search(r"\bor\b", question, re.I):
            return "closed"
        return "open"
    return None


def _strip_turns(text: str) -> str:
    cut = _LATER_TURN.search(text)
    if cut is not None and cut.start() > 0:
        text = text[: cut.start()]
    for _ in range(3):
        stripped = _TURN_MARKER.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return text.strip()


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        piece = text[start : m.end()].strip()
        if piece and re.search(r"\w", piece):
            out.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if tail and re.search(r"\w", tail):
        out.append(tail)
    return out


def _clause(text: str) -> str:
    """The committed span: up to the end of its sentence or a "because"-like connector."""
    text = text.strip().strip("*_` ")
    sentences = _sentences(text)
    first = sentences[0] if sentences else text
    first = re.split(
        r"\s*(?:[,;(]\s*)?\b(?:because|since|as\s+(?:it|the|there)|given\s+that|"
        r"due\s+to|which\s+(?:is|are)|as\s+evidenced)\b",
        first,
        maxsplit=1,
        flags=re.IGNORECASE,
    )[0]
    return first.strip(" \t*_`\"'.,;:!?。")


def _letter(text: str, letters: str, options: Mapping[str, str] | None) -> str | None:
    """The option letter ``text`` opens with, when it is written as a letter (not "A round")."""
    m = _LETTER_TOKEN.match(text)
    if m is None:
        return None
    raw = m.group("p") or m.group("l")
    letter = raw.upper()
    if letter not in letters:
        return None
    if m.group("p"):
        return letter
    rest = m.group("rest")
    stripped = rest.lstrip(" \t")
    if not stripped or stripped[0] in ".):,;-–—*_:\n]}\"'`" or stripped[0] in "。，：":
        if raw.islower() and stripped[:1] == "." and re.match(r"\.\s*[a-z]", stripped):
            return None
        return letter
    if raw.islower():
        return None
    if re.match(_LETTER_AFTER + r"\b", stripped, re.IGNORECASE):
        return letter
    option_text = _option_text(options, letter)
    if option_text and _canonical_tokens(stripped)[: len(_canonical_tokens(option_text))] == (
        _canonical_tokens(option_text)
    ):
        return letter
    return None


def _option_text(options: Mapping[str, str] | None, letter: str) -> str | None:
    for key, value in (options or {}).items():
        if key.strip().upper() == letter:
            return str(value)
    return None


def _option_mentions(text: str, options: Mapping[str, str] | None) -> list[tuple[int, str]]:
    """(token position, letter) of every option whose text appears in ``text``."""
    tokens = _canonical_tokens(text)
    found: list[tuple[int, int, str]] = []
    for key, value in (options or {}).items():
        letter = key.strip().upper()
        if len(letter) != 1 or not letter.isalpha():
            continue
        needle = [t for t in _canonical_tokens(str(value)) if t not in ARTICLES]
        if not needle or " ".join(needle) in YES_WORDS | NO_WORDS:
            continue
        hay = [t for t in tokens if t not in ARTICLES]
        for i in range(len(hay) - len(needle) + 1):
            if hay[i : i + len(needle)] == needle:
                found.append((i, -len(needle), letter))
                break
    found.sort()
    # a longer option text at the same place wins ("left pleural effusion" over "effusion")
    out: list[tuple[int, str]] = []
    covered: set[int] = set()
    for pos, neg_len, letter in found:
        if pos in covered:
            continue
        covered.update(range(pos, pos - neg_len))
        out.append((pos, letter))
    return out


def _verdict(text: str) -> str | None:
    m = _VERDICT_START.match(text)
    if m is None:
        return None
    return "yes" if m.group("yes") else "no"


def _commitments(text: str) -> list[tuple[int, str]]:
    """(position, committed text) of every explicit commitment, in order."""
    out: list[tuple[int, str]] = []
    for m in _COMMIT.finditer(text):
        for group in ("boxed", "ans", "chose", "so"):
            value = m.group(group)
            if value is not None and value.strip():
                boxed = _BOXED.search(value)
                if boxed is not None:
                    value = boxed.group(1)
                out.append((m.start(), value.strip().lstrip("$*_ ")))
                break
    for m in _COMMIT_AFTER.finditer(text):
        out.append((m.start(), m.group("letter")))
    out.sort(key=lambda pair: pair[0])
    return out


def _hedged(text: str) -> bool:
    return bool(re.match(r"^\W*(?:it\s+)?(?:could|might|may)\s+be\b", text, re.IGNORECASE))


def _resolve_mc(region: str, options: Mapping[str, str] | None, letters: str) -> str | None:
    for _, committed in reversed(_commitments(region)):
        letter = _letter(committed, letters, options)
        if letter is not None:
            return letter
        mentions = _option_mentions(_clause(committed), options)
        if mentions:
            return mentions[0][1]
        verdict = _verdict(committed)
        if verdict is not None and options:
            mapped = normalize_answer(verdict, options)
            if mapped in letters:
                return mapped
    letter = _letter(region, letters, options)
    if letter is not None:
        return letter
    if options:
        verdict = _verdict(region)
        if verdict is not None:
            mapped = normalize_answer(verdict, options)
            if mapped in letters:
                return mapped
        for sentence in _sentences(region):
            mentions = _option_mentions(sentence, options)
            if mentions and not _hedged(sentence):
                return mentions[0][1]
            letter = _letter(sentence, letters, options)
            if letter is not None:
                return letter
    return None


def _resolve_closed(region: str) -> str | None:
    for _, committed in reversed(_commitments(region)):
        verdict = _verdict(committed)
        if verdict is not None:
            return verdict
    verdict = _verdict(region)
    if verdict is not None:
        return verdict
    return None


_GENERIC = re.compile(
    r"\b(?:commonly|typically|usually|generally|often|frequently|in\s+general|"
    r"(?:is|are)\s+used\s+to|can\s+be\s+(?:caused|seen|used))\b",
    re.IGNORECASE,
)


def _polarity(sentence: str) -> str:
    """yes/no of a declarative first sentence; the sentence itself when it hedges."""
    if _HEDGE.search(sentence):
        return sentence
    return "no" if _NEGATION.search(sentence) else "yes"


def _non_answer(sentence: str) -> bool:
    """A refusal, boilerplate, a request or a question: no answer in it."""
    return bool(
        _REFUSAL.match(sentence) or _REQUEST.match(sentence) or sentence.rstrip().endswith("?")
    )


def _answer_sentences(region: str) -> list[str]:
    return [s for s in _sentences(region) if not _non_answer(s)]


def _open_span(region: str, marked: bool) -> str | None:
    for _, committed in reversed(_commitments(region)):
        span = _clause(committed)
        if span:
            return span
    for sentence in _answer_sentences(region):
        span = _clause(sentence) if marked else sentence.strip().rstrip(" .!?。")
        if span:
            return span
    return None


def _stem(token: str) -> str:
    token = token[:-1] if len(token) > 3 and token.endswith("s") else token
    return token[:6]


_QUESTION_FILLER = frozenset(
    {"any", "evidence", "please", "patient", "does", "do", "has", "have", "can", "could", "no",
     "yes", "not", "abnormal", "normal", "present", "seen", "image", "scan", "study", "there"}
)  # fmt: skip


def _on_topic(sentence: str, question: str | None) -> bool:
    """Whether a sentence shares a content word with the question (True without a question)."""
    if not question or not question.strip():
        return True
    asked = re.split(r"[?？]", question, maxsplit=1)[0]
    words = {
        _stem(t)
        for t in _canonical_tokens(asked)
        if t not in OPEN_STOPWORDS and t not in _QUESTION_FILLER and len(t) > 1
    }
    if not words:
        words = {_stem(t) for t in _canonical_tokens(asked) if t not in OPEN_STOPWORDS}
    said = {_stem(t) for t in re.findall(r"[a-z]{2,}", sentence.lower())}
    return bool(words & said)


def _answer_region(text: str) -> tuple[str, bool]:
    """(the answer part of ``text``, whether a tag or an answer line marked it)."""
    parsed = parse_output(text)
    if parsed.source in ("answer_tag", "answer_line") and parsed.answer_text:
        if parsed.source == "answer_tag":
            return _strip_turns(parsed.answer_text), True
        # an answer line: keep the whole line ("Answer: B - Pneumothorax, because ...")
        return _strip_turns(parsed.answer_text), True
    think = _think_region(text)
    outside = _strip_tags(" ".join(text[s:e] for s, e in _outside_think(text, think)))
    return _strip_turns(outside), False


def extract_answer(
    text: str | None,
    *,
    options: Mapping[str, str] | None = None,
    kind: Kind | None = None,
    question: str | None = None,
    answer_set: Sequence[str] | None = None,
) -> str:
    """The committed answer of a raw output as written: a letter, "yes"/"no", an answer of the
    set, or a text span.

    ``kind`` is the question kind (``question_kind``); with options and no kind, ``"mc"``; with
    an ``answer_set`` and no kind, ``"set"``. ``question`` (optional) lets a closed question's
    declarative answer be read by its polarity only when it is about the question ("The liver
    appears normal." for "Is the liver normal?"), not when it is off topic. Returns
    ``UNPARSED`` when the output commits to no answer (module comment). The result is not
    normalized (``final_answer`` normalizes it).
    """
    if text is None or not text.strip():
        return UNPARSED
    if kind is None:
        kind = question_kind(options=options, answer_set=answer_set)
    region, marked = _answer_region(text)
    if not region or not re.search(r"\w", region) or (marked and _GARBLED_TAG.search(region)):
        return UNPARSED
    letters = _letters(options)
    if not _commitments(region) and _verdict(region) is None:
        sentences = _answer_sentences(region)
        if not sentences:
            return UNPARSED
        if not marked:
            region = " ".join(sentences)
    if kind == "mc":
        letter = _resolve_mc(region, options, letters)
        return letter if letter is not None else UNPARSED
    if kind == "set":
        member = _resolve_set(region, answer_set or ())
        return member if member is not None else UNPARSED
    if kind == "closed":
        verdict = _resolve_closed(region)
        if verdict is not None:
            return verdict
        span = _open_span(region, marked)
        if span is None or not _on_topic(span, question) or _GENERIC.search(span):
            # off the question, or textbook knowledge: no answer to this question
            return UNPARSED
        polarity = _polarity(span)
        return polarity if polarity in ("yes", "no") else UNPARSED
    if kind is None:
        verdict = _resolve_closed(region)
        if verdict is not None:
            return verdict
        for _, committed in reversed(_commitments(region)):
            letter = _letter(committed, letters, None)
            if letter is not None:
                return letter
        if not marked:
            letter = _letter(region, letters, None)
            if letter is not None and _LONE_LETTER.match(region):
                return letter
    span = _open_span(region, marked)
    return span if span else UNPARSED


def _resolve_set(region: str, answer_set: Sequence[str]) -> str | None:
    """The one admissible answer the committed span (else the first answer sentence) names."""
    spans = [_clause(committed) for _, committed in reversed(_commitments(region))]
    spans += _answer_sentences(region)[:1] or [region]
    members = [(normalize_answer(m), _canonical_tokens(m), m) for m in answer_set if m.strip()]
    for span in spans:
        normalized = normalize_answer(span)
        exact = [m for norm, _, m in members if norm == normalized]
        if exact:
            return exact[0]
        tokens = [t for t in _canonical_tokens(span) if t not in ARTICLES]
        named = {
            m
            for _, needle, m in members
            if needle and any(tokens[i : i + len(needle)] == needle for i in range(len(tokens)))
        }
        if len(named) == 1:
            return named.pop()
        if named:
            return None
    return None


def final_answer(
    text: str | None,
    options: Mapping[str, str] | None = None,
    *,
    kind: Kind | None = None,
    question: str | None = None,
    answer_set: Sequence[str] | None = None,
) -> str:
    """The normalized final answer of a raw output (``UNPARSED`` when it has none).

    ``kind`` is the question kind (``question_kind``); see ``extract_answer``.
    """
    answer = extract_answer(
        text, options=options, kind=kind, question=question, answer_set=answer_set
    )
    return normalize_answer(answer, options)
