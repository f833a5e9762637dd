"""Parsing a model's raw output into reasoning + final answer, and matching answers.

Parse order (DESIGN.md section 3), first hit wins:

1. ``answer_tag``: the last ``<answer>...</answer>`` block anywhere (an unclosed ``<answer>`` runs
   to the end of the text; nested tags are stripped from the content).
2. ``answer_line``: the last "Answer: X" / "Final answer: X" line outside the think block.
3. ``short``: the text outside the think block is itself a short answer (one line, at most
   ``SHORT_MAX_WORDS`` words).
4. ``answer_line``: the last "Answer: X" line inside the think block (an unclosed think block, or
   a model that put everything inside it), then the last "the answer is X" phrase anywhere.
5. ``short``: a long output that opens with a bare verdict ("No, the heart size is normal.")
   answers with that verdict; the whole text is its reasoning.
6. ``none``: nothing answer-like; the answer is ``UNPARSED``. A long free-text output is not
   guessed from its last sentence: that would invent answers, and flips between invented answers
   would be noise. ``UNPARSED`` is its own answer class and is counted (DESIGN.md).

The reasoning is the think block when there is one (cut where an answer starts inside it),
otherwise the text before the answer part. It is always one contiguous slice of the input, so
claim spans found in it map back to the raw output (see ``locate_reasoning``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from audits.contracts.types import UNPARSED

Source = Literal["answer_tag", "answer_line", "short", "none"]

SHORT_MAX_WORDS = 8

YES_WORDS = frozenset({"yes", "y", "true", "present", "positive", "yeah", "yep"})
NO_WORDS = frozenset({"no", "n", "false", "absent", "negative", "nope"})
NO_PHRASES = frozenset({"not present", "not seen", "not visible", "not identified"})
ARTICLES = frozenset({"a", "an", "the"})
DEFAULT_LETTERS = "ABCDE"

_THINK_OPEN = re.compile(r"<\s*think\s*>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"<\s*/\s*think\s*>", re.IGNORECASE)
_ANSWER_OPEN = re.compile(r"<\s*answer\s*>", re.IGNORECASE)
_ANSWER_CLOSE = re.compile(r"<\s*/\s*answer\s*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<\s*/?\s*(?:think|answer)\s*>", re.IGNORECASE)
_ANSWER_LINE = re.compile(
    r"(?:^|(?<=[.!?])[ \t]+)[ \t>*#_\-]*(?:(?:the|my)\s+)?(?:final\s+|correct\s+)?answer"
    r"[ \t*_]*[:：][ \t*_]*(?P<ans>[^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)
_ANSWER_PHRASE = re.compile(
    r"\b(?:the\s+)?(?:final\s+|correct\s+|best\s+)?answer\s+(?:is|would\s+be|will\s+be)\s*:?\s*"
    r"(?P<ans>[^\n]+?)\s*(?:[.!;](?:\s|$)|\n|$)",
    re.IGNORECASE,
)
_VERDICT = re.compile(r"^\W*(?P<ans>yes|no)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedOutput:
    reasoning: str
    answer_text: str | None
    source: Source


@dataclass(frozen=True)
class _Parse:
    parsed: ParsedOutput
    reasoning_start: int


def _strip_tags(text: str) -> str:
    return _ANY_TAG.sub(" ", text).strip()


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) of text[start:end] without surrounding whitespace."""
    end = max(start, end)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _think_region(text: str) -> tuple[int, int] | None:
    """(content start, content end) of the think block, None when there is none.

    A missing opening tag (chat templates that put ``<think>`` in the prompt) means the block
    starts at 0; a missing closing tag means it runs to the end.
    """
    opened = _THINK_OPEN.search(text)
    closes = list(_THINK_CLOSE.finditer(text))
    if opened is not None:
        after = [c for c in closes if c.start() >= opened.end()]
        return (opened.end(), after[-1].start() if after else len(text))
    if closes:
        return (0, closes[-1].start())
    return None


def _outside_think(text: str, think: tuple[int, int] | None) -> list[tuple[int, int]]:
    if think is None:
        return [(0, len(text))]
    opened = _THINK_OPEN.search(text)
    before_end = opened.start() if opened is not None else 0
    closes = [c for c in _THINK_CLOSE.finditer(text) if c.start() >= think[1]]
    after_start = closes[0].end() if closes else len(text)
    return [(0, before_end), (after_start, len(text))]


def _answer_tag(text: str) -> tuple[str, int] | None:
    """(content, start of the answer part) of the last answer block with non-empty content."""
    closes = list(_ANSWER_CLOSE.finditer(text))
    opens = list(_ANSWER_OPEN.finditer(text))
    if closes:
        close = closes[-1]
        before = [o for o in opens if o.end() <= close.start()]
        if before:
            # Nested openers ("<answer><answer>B") all belong to this answer part.
            previous_close = max(
                (c.end() for c in closes if c.end() <= before[-1].start()), default=-1
            )
            part_start = min(o.start() for o in before if o.start() >= previous_close)
            content_start = before[-1].end()
        else:
            part_start = content_start = max(
                (m.end() for m in _THINK_CLOSE.finditer(text, 0, close.start())), default=0
            )
        content = _strip_tags(text[content_start : close.start()])
        if content:
            return content, part_start
    if opens and (not closes or opens[-1].start() > closes[-1].start()):
        content = _strip_tags(text[opens[-1].end() :])
        if content:
            return content, opens[-1].start()
    return None


def _answer_line(text: str, start: int, end: int) -> tuple[str, int] | None:
    found: tuple[str, int] | None = None
    for m in _ANSWER_LINE.finditer(text, start, end):
        ans = _strip_tags(m.group("ans")).strip(" *_")
        if not ans:
            following = text[m.end() : end].lstrip("\n").split("\n", 1)[0]
            ans = _strip_tags(following).strip(" *_")
        if ans:
            found = (ans, m.start())
    return found


def _answer_phrase(text: str, start: int, end: int) -> tuple[str, int] | None:
    found: tuple[str, int] | None = None
    for m in _ANSWER_PHRASE.finditer(text, start, end):
        ans = _strip_tags(m.group("ans"))
        if ans:
            found = (ans, m.start())
    return found


def _is_short(segment: str) -> bool:
    return bool(segment) and "\n" not in segment and len(segment.split()) <= SHORT_MAX_WORDS


def _parse(text: str | None) -> _Parse:
    if not text or not text.strip():
        return _Parse(ParsedOutput("", None, "none"), 0)
    think = _think_region(text)
    outside = _outside_think(text, think)

    def result(answer: str | None, source: Source, answer_at: int | None) -> _Parse:
        if think is not None:
            start, end = think
        else:
            start, end = 0, len(text)
        if answer_at is not None and start <= answer_at < end:
            end = answer_at
        first_block = _ANSWER_OPEN.search(text, start, end)
        if first_block is not None:
            end = first_block.start()
        start, end = _trimmed(text, start, end)
        return _Parse(ParsedOutput(text[start:end], answer, source), start)

    tag = _answer_tag(text)
    if tag is not None:
        return result(tag[0], "answer_tag", tag[1])
    for seg_start, seg_end in reversed(outside):
        line = _answer_line(text, seg_start, seg_end)
        if line is not None:
            return result(line[0], "answer_line", line[1])
    outside_text = _strip_tags(" ".join(text[s:e] for s, e in outside))
    if _is_short(outside_text):
        if think is None:
            return _Parse(ParsedOutput("", outside_text, "short"), 0)
        return result(outside_text, "short", None)
    if think is not None:
        line = _answer_line(text, *think)
        if line is not None:
            return result(line[0], "answer_line", line[1])
    for seg_start, seg_end in [*reversed(outside), *([think] if think else [])]:
        phrase = _answer_phrase(text, seg_start, seg_end)
        if phrase is not None:
            return result(phrase[0], "answer_line", phrase[1])
    verdict = _VERDICT.match(outside_text)
    if verdict is not None:
        return result(verdict.group("ans"), "short", None)
    return result(None, "none", None)


def parse_output(text: str | None) -> ParsedOutput:
    """Split a raw output into reasoning and answer text (see the module docstring)."""
    return _parse(text).parsed


def locate_reasoning(text: str | None) -> tuple[int, int]:
    """(start, end) of ``parse_output(text).reasoning`` inside ``text``."""
    parsed = _parse(text)
    return parsed.reasoning_start, parsed.reasoning_start + len(parsed.parsed.reasoning)


# --- normalization -------------------------------------------------------------------------

_PUNCT = re.compile(r"(?<!\d)[^\w\s]|[^\w\s](?!\d)|_")
_RAW_PREFIX = re.compile(
    r"^\W*(?:(?:the|my)\s+)?(?:final\s+|correct\s+|best\s+)?answer\b(?:\s+(?:is|would\s+be))?\s*"
    r"[:：\-]?\s*",
    re.IGNORECASE,
)
_RAW_OPTION_WORD = re.compile(r"^\W*(?:option|choice)\b\s*", re.IGNORECASE)
_LONE_LETTER = re.compile(r"^[\s*_]*[(\[]?\s*(?P<l>[A-Za-z])\s*[)\].:,]?[\s*_.]*$")
_LETTER_WITH_TEXT = re.compile(
    r"^[\s*_]*(?:[(\[]\s*(?P<a>[A-Za-z])\s*[)\]]|(?P<b>[A-Za-z])[.):,])\s"
)
_TOKEN_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("the", "final", "answer", "is"),
    ("the", "correct", "answer", "is"),
    ("the", "answer", "is"),
    ("my", "answer", "is"),
    ("final", "answer", "is"),
    ("correct", "answer", "is"),
    ("answer", "is"),
    ("final", "answer"),
    ("answer",),
    ("option",),
    ("choice",),
)


def _letters(options: Mapping[str, str] | None) -> str:
    keys = "".join(k.strip().upper() for k in (options or {}) if len(k.strip()) == 1)
    return DEFAULT_LETTERS + "".join(k for k in keys if k.isalpha() and k not in DEFAULT_LETTERS)


def _canonical_tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", _strip_tags(text)).lower()
    return _PUNCT.sub(" ", text).split()


def _strip_token_prefixes(tokens: list[str]) -> list[str]:
    changed = True
    while changed and tokens:
        changed = False
        for prefix in _TOKEN_PREFIXES:
            if tuple(tokens[: len(prefix)]) == prefix:
                tokens = tokens[len(prefix) :]
                changed = True
                break
    return tokens


def _letter_of(text: str, letters: str, allow_text: bool) -> str | None:
    """The option letter ``text`` names, if it is written as one ("(B)", "B.", "option B")."""
    body = text
    for _ in range(3):
        stripped = _RAW_OPTION_WORD.sub("", _RAW_PREFIX.sub("", body), count=1)
        if stripped == body:
            break
        body = stripped
    m = _LONE_LETTER.match(body)
    if m is not None and m.group("l").upper() in letters:
        return m.group("l").upper()
    if allow_text:
        m = _LETTER_WITH_TEXT.match(body)
        if m is not None:
            letter = (m.group("a") or m.group("b")).upper()
            if letter in letters:
                return letter
    return None


def _text_form(text: str, letters: str) -> str:
    """Lowercase tokens, answer prefixes and articles removed, yes/no synonyms mapped."""
    tokens = _canonical_tokens(text)
    while True:
        before = tokens
        tokens = _strip_token_prefixes(tokens)
        if len(tokens) == 1 and tokens[0].upper() in letters:
            return tokens[0].upper()
        tokens = [t for t in tokens if t not in ARTICLES]
        if tokens == before:
            break
    if not tokens:
        return UNPARSED
    joined = " ".join(tokens)
    if len(tokens) == 1 and tokens[0].upper() in letters:
        return tokens[0].upper()
    if joined in YES_WORDS or tokens[0] == "yes":
        return "yes"
    if joined in NO_WORDS or joined in NO_PHRASES or tokens[0] == "no":
        return "no"
    return joined


def normalize_answer(text: str | None, options: Mapping[str, str] | None = None) -> str:
    """Canonical answer class: ``"yes"``/``"no"``, an option letter, normalized text or UNPARSED.

    Idempotent: ``normalize_answer(normalize_answer(x, o), o) == normalize_answer(x, o)``.
    With ``options``, an answer given as an option's text maps to that option's letter, and
    "B. pleural effusion" names option B; without options only a lone letter ("B", "(b)",
    "option B", "the answer is B") becomes a letter.
    """
    if text is None or not text.strip() or text.strip() == UNPARSED:
        return UNPARSED
    letters = _letters(options)
    letter = _letter_of(text, letters, allow_text=bool(options))
    if letter is not None:
        return letter
    form = _text_form(text, letters)
    if options and form != UNPARSED and form not in letters:
        for key, option_text in options.items():
            key_letter = key.strip().upper()
            if len(key_letter) != 1 or not key_letter.isalpha():
                continue
            if _text_form(str(option_text), "") == form:
                return key_letter
    return form


def final_answer(
    text: str | None,
    options: Mapping[str, str] | None = None,
    *,
    kind: Kind | None = None,
    question: str | None = None,
) -> str:
    """The normalized final answer of a raw output (``UNPARSED`` when it has none).

    ``kind`` is the question kind (``question_kind``); see ``extract_answer``.
    """
    answer = extract_answer(text, options=options, kind=kind, question=question)
    return normalize_answer(answer, options)


def token_f1(a: str, b: str) -> float:
    """SQuAD-style token F1 of two answers after normalization; UNPARSED only matches itself."""
    na, nb = normalize_answer(a), normalize_answer(b)
    if na == UNPARSED or nb == UNPARSED:
        return 1.0 if na == nb else 0.0
    ta, tb = na.split(), nb.split()
    common = sum((Counter(ta) & Counter(tb)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(ta), common / len(tb)
    return 2 * precision * recall / (precision + recall)


def answers_match(a: str, b: str, *, f1_threshold: float | None = None) -> bool:
    """Whether two (normalized) answers are the same answer class.

    Exact match after normalization, or token F1 >= ``f1_threshold`` when one is given.
    ``UNPARSED`` never matches a real answer, but two ``UNPARSED`` answers are the same class:
    two unparseable outputs are not counted as a flip.
    """
    na, nb = normalize_answer(a), normalize_answer(b)
    if na == nb:
        return True
    if UNPARSED in (na, nb) or f1_threshold is None:
        return False
    return token_f1(na, nb) >= f1_threshold


# --- final answers from real outputs -------------------------------------------------------
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
# ``UNPARSED`` is only returned for outputs with no answer at all: empty, a think block that was
# never followed by an answer, a refusal or boilerplate ("I'm sorry, I cannot ...", "As an AI").

Kind = Literal["closed", "mc", "open"]

OPEN_RECALL_THRESHOLD = 0.67
"""An open answer is correct when it contains at least this share of the reference's content
tokens (LLaVA-Med's open-question recall, thresholded). 0.67 needs every token of a one- to
three-token reference ("left lung" vs "right lung" is wrong, 1/2; "right lower lobe" vs "left
lower lobe" is wrong, 2/3) and tolerates one missing token from four on; 0.5 would accept
laterality errors in two-token references."""

OPEN_FLIP_F1_THRESHOLD = 0.5
"""Two open answers (real vs a counterfactual) are the same answer when their content-token F1
is at least this; below it the counterfactual flipped the answer. 0.5 keeps a re-worded answer
naming the same finding ("mass in the pancreatic head" vs "pancreatic head mass") as no flip
and a different finding or site sharing one word of three as a flip."""

_CLOSED_QUESTION = re.compile(
    r"^\W*(?:is|are|am|does|do|did|can|could|was|were|has|have|had|will|would|should|shall|"
    r"may|might|must|isn'?t|aren'?t|doesn'?t|don'?t)\b",
    re.IGNORECASE,
)

# Function words left out of open-answer recall and F1: whole-sentence answers restate the
# question ("The mass is located in ..."), and shared function words would hide real changes.
OPEN_STOPWORDS = frozenset(
    {
        "a", "an", "the", "is", "are", "was", "were", "be", "been", "being", "am", "of", "in", "on",
        "at", "to", "for", "from", "by", "with", "within", "into", "and", "or", "this", "that",
        "these", "those", "it", "its", "there", "here", "which", "what", "where", "image", "shows",
        "show", "showing", "seen", "visible", "located", "appears", "appear",
    }
)  # fmt: skip

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
_LEADING_FILLER = re.compile(
    r"^\s*(?:(?:based\s+on|according\s+to|from|looking\s+at|in)\s+(?:the|this)\s+"
    r"(?:image|images|scan|picture|radiograph|x-?ray|ct|mri|findings)(?:\s+provided)?\s*,\s*)",
    re.IGNORECASE,
)


def question_kind(
    question: str | None = None,
    options: Mapping[str, str] | None = None,
    reference: str | None = None,
) -> Kind | None:
    """``"mc"`` with options, ``"closed"`` for yes/no questions, ``"open"`` otherwise.

    Closed: the reference is yes/no, or (no reference) the question opens with an auxiliary
    verb ("Is ...", "Does ...") and offers no alternatives ("... CT or MRI?"). ``None`` when
    nothing is known (no question, options or reference).
    """
    if options:
        return "mc"
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
) -> str:
    """The committed answer of a raw output as written: a letter, "yes"/"no", or a text span.

    ``kind`` is the question kind (``question_kind``); with options and no kind, ``"mc"``.
    ``question`` (optional) lets a closed question's declarative answer be read by its
    polarity only when it is about the question ("The liver appears normal." for "Is the liver
    normal?"), not when it is off topic. Returns ``UNPARSED`` only when the output has no answer
    at all. The result is not normalized (``final_answer`` normalizes it).
    """
    if text is None or not text.strip():
        return UNPARSED
    if kind is None and options:
        kind = "mc"
    region, marked = _answer_region(text)
    if not region or not re.search(r"\w", region):
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
        if letter is not None:
            return letter
        span = _open_span(region, marked)
        return span if span else UNPARSED
    if kind == "closed":
        verdict = _resolve_closed(region)
        if verdict is not None:
            return verdict
        span = _open_span(region, marked)
        if span is None:
            return UNPARSED
        if not marked and (not _on_topic(span, question) or _GENERIC.search(span)):
            # off the question, or textbook knowledge: no answer to this question
            return UNPARSED
        return _polarity(span)
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


def _content_tokens(text: str, drop: frozenset[str] = frozenset()) -> list[str]:
    tokens = _canonical_tokens(text)
    kept = [t for t in tokens if t not in OPEN_STOPWORDS and t not in drop]
    if kept:
        return kept
    kept = [t for t in tokens if t not in OPEN_STOPWORDS]
    return kept or [t for t in tokens if t not in ARTICLES] or tokens


def open_recall(answer: str | None, reference: str | None) -> float:
    """LLaVA-Med's open-question recall: the share of the reference's content tokens found in
    the answer (token sets, function words left out). 0.0 for a missing or UNPARSED answer."""
    if not answer or not reference or normalize_answer(answer) == UNPARSED:
        return 0.0
    ref = set(_content_tokens(reference))
    if not ref:
        return 0.0
    ans = set(_content_tokens(answer))
    return len(ref & ans) / len(ref)


def open_f1(a: str | None, b: str | None) -> float:
    """Token F1 of two open answers over their content tokens (function words left out)."""
    if not a or not b:
        return 0.0
    na, nb = normalize_answer(a), normalize_answer(b)
    if UNPARSED in (na, nb):
        return 1.0 if na == nb else 0.0
    ta, tb = _content_tokens(na), _content_tokens(nb)
    common = sum((Counter(ta) & Counter(tb)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(ta), common / len(tb)
    return 2 * precision * recall / (precision + recall)


def open_answer_correct(
    answer: str | None, reference: str | None, *, threshold: float = OPEN_RECALL_THRESHOLD
) -> bool:
    """An open answer is correct when it matches the reference exactly after normalization or
    recalls at least ``threshold`` of the reference's content tokens."""
    if answer is None or reference is None:
        return False
    na, nr = normalize_answer(answer), normalize_answer(reference)
    if UNPARSED in (na, nr):
        return False
    if na == nr:
        return True
    return not directions_swapped(na, nr) and open_recall(na, nr) >= threshold


# Direction words whose swap changes an open answer even when most tokens agree ("left lower
# lobe" vs "right lower lobe", token F1 2/3): token F1 alone would call these the same answer.
_OPPOSITES: tuple[tuple[str, str], ...] = (
    ("left", "right"),
    ("upper", "lower"),
    ("anterior", "posterior"),
    ("superior", "inferior"),
    ("medial", "lateral"),
    ("increased", "decreased"),
)


def directions_swapped(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` name opposite directions ("left ..." vs "right ...")."""
    ta, tb = set(_canonical_tokens(a)), set(_canonical_tokens(b))
    for one, other in _OPPOSITES:
        sa = (one in ta, other in ta)
        sb = (one in tb, other in tb)
        if sa in ((True, False), (False, True)) and sb == (sa[1], sa[0]):
            return True
    return False


def open_answers_differ(
    a: str | None, b: str | None, *, threshold: float = OPEN_FLIP_F1_THRESHOLD
) -> bool:
    """A flip between two open answers: content-token F1 below ``threshold``, or the same words
    with a direction swapped (left/right, upper/lower, ...)."""
    if normalize_answer(a) == normalize_answer(b):
        return False
    if a is not None and b is not None and directions_swapped(a, b):
        return True
    return open_f1(a, b) < threshold
