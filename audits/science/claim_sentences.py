"""Sentence splitting for claim detection: pysbd per line, tag boundaries and semicolons;
offsets index the input."""

from __future__ import annotations

import threading

import pysbd

from audits.science.claim_patterns import SEMICOLON, TAG

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
    masked = TAG.sub(lambda m: "\n" * len(m.group(0)), text)
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in masked.split("\n"):
        if line.strip():
            for start, end in _regex_sentences(line, pos):
                cut = start
                for m in SEMICOLON.finditer(masked, start, end):
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


def plain_quotes(text: str) -> str:
    """Typographic apostrophes as ASCII ones (same length, so offsets are unchanged)."""
    return text.replace("\u2019", "'").replace("\u2018", "'")
