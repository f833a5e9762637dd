"""Sides in answers and questions: which side an answer names, and the mirrored wording.

Sides are the patient's or the viewer's left and right in any common wording ("left", "Lt.",
"right-sided", "sinistral", "the right lower lobe"); an answer that names both sides
("bilateral", "left and right") names no single side.
"""

from __future__ import annotations

import re
from typing import Literal

Side = Literal["left", "right"]

_WORDS: dict[str, Side] = {
    "left": "left",
    "lt": "left",
    "sinistral": "left",
    "right": "right",
    "rt": "right",
    "dextral": "right",
}
_BOTH = re.compile(r"\b(bilateral|bilaterally|both|either side|each side)\b", re.IGNORECASE)
_SIDE = re.compile(r"\b(left|lt|sinistral|right|rt|dextral)\b", re.IGNORECASE)
_MIRROR = {"left": "right", "right": "left", "lt": "rt", "rt": "lt", "sinistral": "dextral"}
_MIRROR["dextral"] = "sinistral"


def side_of(text: str | None) -> Side | None:
    """The one side a text names; None for no side or both."""
    if not text or _BOTH.search(text):
        return None
    sides = {_WORDS[match.group(1).lower()] for match in _SIDE.finditer(text)}
    return sides.pop() if len(sides) == 1 else None


def opposite(side: Side) -> Side:
    return "right" if side == "left" else "left"


def mirrored(text: str) -> str:
    """The text with every side word swapped (``left lower lobe`` -> ``right lower lobe``),
    keeping its case."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(1)
        other = _MIRROR[word.lower()]
        if word.isupper():
            return other.upper()
        if word[0].isupper():
            return other.capitalize()
        return other

    return _SIDE.sub(swap, text)


def names_a_side(text: str | None) -> bool:
    """Whether a text (a question) mentions a side at all, both sides included."""
    return bool(text) and (bool(_SIDE.search(text or "")) or bool(_BOTH.search(text or "")))
