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


def answer_prefill(text: str | None) -> str:
    """The output up to its tagged answer (``...</think><answer>``), "" when it has none.

    Scoring ``answer_prefill(output) + candidate`` asks how likely each answer is after the
    model's own reasoning, the way it produced the answer.
    """
    if not text or _answer_tag(text) is None or _parse(text).parsed.source != "answer_tag":
        return ""
    closes = list(_ANSWER_CLOSE.finditer(text))
    limit = closes[-1].start() if closes else len(text)
    opens = [o for o in _ANSWER_OPEN.finditer(text) if o.end() <= limit]
    return text[: opens[-1].end()] if opens else ""


def written_answer(after_prefill: str) -> str:
    """What follows ``answer_prefill``, without its closing tag and surrounding space."""
    return _ANSWER_CLOSE.sub("", after_prefill).strip()


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
