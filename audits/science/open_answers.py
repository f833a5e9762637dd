"""Open answers (DESIGN.md section 3, "Final answers from real outputs"): correctness by
reference-token recall (LLaVA-Med's open-question convention, thresholded) and flips between two
conditions by content-token F1, with a swapped direction always a change."""

from __future__ import annotations

from collections import Counter

from audits.contracts.types import UNPARSED
from audits.science.parsing import ARTICLES, _canonical_tokens, normalize_answer

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
