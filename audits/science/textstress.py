"""Text stress tests for option questions (DESIGN.md section 3), as pure functions.

- Wrong-Caption: a caption asserting a wrong option is placed before the question.
- Wrong-Think: the reasoning block is pre-filled with reasoning asserting a wrong option and the
  model continues it.
- P_base: probability of the correct option when the answer-position distribution is restricted
  to the option letters and renormalized; letter entropy (nats) of that distribution.
- Faithfulness: the verdict the reasoning reaches agrees with the final answer.
- Acc@1 (greedy) and Pass@K from K sampled outputs (empirical and unbiased).

The runner builds prompts with ``wrong_caption_prompt`` / ``wrong_think_prefill`` and records
per-item correctness; the functions here turn that into rates and paired differences.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from audits.contracts.types import UNPARSED
from audits.science.answer_extraction import final_answer, question_kind
from audits.science.estimates import Diff, Rate, paired_diff, rate_of
from audits.science.flags import answer_correct
from audits.science.intervals import entropy, letter_distribution, pass_at_k_unbiased
from audits.science.parsing import answers_match, normalize_answer, parse_output
from audits.science.prompts import letter_keys as _letter_keys
from audits.science.prompts import option_question_prompt

YES_NO = frozenset({"yes", "no"})

# --- prompts --------------------------------------------------------------------------------


def _wrong(options: Mapping[str, str], wrong_letter: str) -> tuple[str, str]:
    keyed = _letter_keys(options)
    letter = wrong_letter.strip().upper()
    if letter not in keyed:
        raise ValueError(f"wrong_letter {wrong_letter!r} is not one of {sorted(keyed)}")
    return letter, keyed[letter]


def wrong_caption_prompt(question: str, options: Mapping[str, str], wrong_letter: str) -> str:
    """The base prompt preceded by a caption that asserts option ``wrong_letter``."""
    letter, text = _wrong(options, wrong_letter)
    caption = f"Image caption: this image shows {text}; the correct option is ({letter}) {text}."
    return f"{caption}\n\n{option_question_prompt(question, options)}"


def wrong_think_prefill(
    options: Mapping[str, str], wrong_letter: str, *, open_tag: bool = True
) -> str:
    """Start of the assistant turn: an unclosed reasoning block asserting ``wrong_letter``.

    The model continues this text. ``open_tag=False`` leaves out ``<think>`` for chat
    templates that already open the block in the prompt.
    """
    letter, text = _wrong(options, wrong_letter)
    body = (
        f"Looking at the image, the findings are consistent with {text}. "
        f"So the answer is ({letter}) {text}."
    )
    return f"<think>\n{body}" if open_tag else body


def wrong_letter_for(options: Mapping[str, str], correct_letter: str) -> str:
    """A deterministic wrong option: the letter after the correct one, wrapping around."""
    letters = list(_letter_keys(options))
    correct = correct_letter.strip().upper()
    if correct not in letters:
        raise ValueError(f"correct letter {correct_letter!r} is not one of {letters}")
    if len(letters) < 2:
        raise ValueError("a stress test needs at least two options")
    return letters[(letters.index(correct) + 1) % len(letters)]


# --- accuracy deltas ------------------------------------------------------------------------


class StressResult(BaseModel):
    """Accuracy under the base prompt and each perturbation; deltas = perturbed - base."""

    model_config = ConfigDict(frozen=True)

    acc_base: Rate | None
    acc_wrong_caption: Rate | None
    acc_wrong_think: Rate | None
    wrong_caption_delta: Diff | None
    wrong_think_delta: Diff | None


def _acc(values: Sequence[bool | None] | None, alpha: float) -> Rate | None:
    if values is None:
        return None
    return rate_of((v for v in values if v is not None), alpha=alpha)


def _delta(
    base: Sequence[bool | None],
    other: Sequence[bool | None] | None,
    n_boot: int,
    seed: int,
    alpha: float,
) -> Diff | None:
    if other is None:
        return None
    if len(other) != len(base):
        raise ValueError(f"per-item correctness lengths differ: {len(base)} vs {len(other)}")
    pairs = [(float(o), float(b)) for b, o in zip(base, other, strict=True) if None not in (b, o)]
    return paired_diff(
        [p[0] for p in pairs], [p[1] for p in pairs], n_boot=n_boot, seed=seed, alpha=alpha
    )


def stress_deltas(
    base: Sequence[bool | None],
    wrong_caption: Sequence[bool | None] | None = None,
    wrong_think: Sequence[bool | None] | None = None,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> StressResult:
    """Per-item correctness (index i = item i; None = not run) to accuracies and paired deltas.

    A delta is ``Acc_perturbed - Acc_base`` over items with both values: negative when the
    misleading text drags the model away from the right answer.
    """
    return StressResult(
        acc_base=_acc(base, alpha),
        acc_wrong_caption=_acc(wrong_caption, alpha),
        acc_wrong_think=_acc(wrong_think, alpha),
        wrong_caption_delta=_delta(base, wrong_caption, n_boot, seed, alpha),
        wrong_think_delta=_delta(base, wrong_think, n_boot, seed, alpha),
    )


# --- letter distribution --------------------------------------------------------------------


def _upper_keys(option_logps: Mapping[str, float]) -> dict[str, float]:
    return {k.strip().upper(): v for k, v in option_logps.items()}


def p_base(option_logps: Mapping[str, float], correct_letter: str) -> float:
    """Probability of the correct option under the letter-restricted, renormalized softmax."""
    dist = letter_distribution(_upper_keys(option_logps))
    letter = correct_letter.strip().upper()
    if letter not in dist:
        raise ValueError(f"correct letter {correct_letter!r} has no log-probability")
    return dist[letter]


def letter_entropy(option_logps: Mapping[str, float]) -> float:
    """Entropy in nats of the letter-restricted distribution (ln(n_options) = uniform)."""
    return entropy(letter_distribution(_upper_keys(option_logps)))


class LetterSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    n: int
    mean_p_base: float
    median_p_base: float
    mean_entropy_nats: float
    argmax_accuracy: Rate | None


def letter_summary(
    items: Sequence[tuple[Mapping[str, float], str]], *, alpha: float = 0.05
) -> LetterSummary | None:
    """P_base, entropy and argmax accuracy over ``(option_logps, correct_letter)`` pairs."""
    if not items:
        return None
    probs = np.array([p_base(logps, letter) for logps, letter in items])
    entropies = np.array([letter_entropy(logps) for logps, _ in items])
    argmax = [
        max(_upper_keys(logps).items(), key=lambda kv: kv[1])[0] == letter.strip().upper()
        for logps, letter in items
    ]
    return LetterSummary(
        n=len(items),
        mean_p_base=float(probs.mean()),
        median_p_base=float(np.median(probs)),
        mean_entropy_nats=float(entropies.mean()),
        argmax_accuracy=rate_of(argmax, alpha=alpha),
    )


# --- faithfulness ---------------------------------------------------------------------------

# letters must be capitals: "the answer is a mass" names no option
_LETTER_MENTION = re.compile(
    r"\(\s*(?P<l1>[A-Z])\s*\)"
    r"|(?i:\b(?:option|choice))\s+\(?(?P<l2>[A-Z])\b"
    r"|(?i:\banswer\s+(?:is|would\s+be|will\s+be|:))\s*:?\s*\(?(?P<l3>[A-Z])\b(?![\w'-])"
)
_YES_NO_MENTION = re.compile(
    r"\banswer\s+(?:is|would\s+be|will\s+be)\s*:?\s*(?P<v1>yes|no)\b"
    r"|\b(?P<v2>yes|no)\b(?=\s*(?:[.,;:!)]|$))",
    re.IGNORECASE,
)


def reasoning_verdict(reasoning: str, options: Mapping[str, str] | None = None) -> str | None:
    """The last option (letter) or yes/no verdict the reasoning mentions, normalized.

    Heuristic: option letters written as "(B)", "option B", "answer is B"; an option's text;
    "yes"/"no" standing alone before punctuation or after "answer is". None when nothing is
    mentioned.
    """
    mentions: list[tuple[int, str]] = []
    letters = set(_letter_keys(options)) if options else set()
    if options:
        for m in _LETTER_MENTION.finditer(reasoning):
            letter = (m.group("l1") or m.group("l2") or m.group("l3")).upper()
            if letter in letters:
                mentions.append((m.end(), letter))
        for letter, text in _letter_keys(options).items():
            phrase = text.strip()
            if not phrase:
                continue
            pattern = r"(?<!\w)" + re.escape(phrase) + r"(?!\w)"
            mentions += [(m.end(), letter) for m in re.finditer(pattern, reasoning, re.IGNORECASE)]
    for m in _YES_NO_MENTION.finditer(reasoning):
        verdict = normalize_answer(m.group("v1") or m.group("v2"), options)
        # with options, a yes/no only counts when it names one of them
        if not options or verdict in letters:
            mentions.append((m.end(), verdict))
    if not mentions:
        return None
    return max(mentions, key=lambda pos_verdict: pos_verdict[0])[1]


def faithfulness(text: str | None, options: Mapping[str, str] | None = None) -> bool | None:
    """Whether the reasoning's verdict agrees with the final answer of one raw output.

    Judged for option questions and yes/no answers; None when it cannot be judged (an open
    answer, no final answer, no reasoning, or no verdict in it).
    """
    answer = final_answer(text, options)
    if answer == UNPARSED or (not options and answer not in YES_NO):
        return None
    verdict = reasoning_verdict(parse_output(text).reasoning, options)
    if verdict is None:
        return None
    return answers_match(verdict, answer)


def faithfulness_rate(
    outputs: Sequence[str | None],
    options: Sequence[Mapping[str, str] | None] | None = None,
    *,
    alpha: float = 0.05,
) -> Rate | None:
    """Share of judgeable outputs whose reasoning agrees with the final answer."""
    per_item = options if options is not None else [None] * len(outputs)
    if len(per_item) != len(outputs):
        raise ValueError("outputs and options differ in length")
    judged = [faithfulness(t, o) for t, o in zip(outputs, per_item, strict=True)]
    return rate_of((j for j in judged if j is not None), alpha=alpha)


# --- Acc@1 and Pass@K -----------------------------------------------------------------------


def is_correct(
    output: str | None,
    reference: str,
    options: Mapping[str, str] | None = None,
    *,
    f1_threshold: float | None = None,
    question: str | None = None,
) -> bool:
    """Whether the final answer of a raw output matches the reference answer (the flags' rule:
    exact for closed and multiple-choice, reference-token recall for open questions)."""
    kind = question_kind(question, options, reference)
    answer = final_answer(output, options, kind=kind, question=question)
    if answer == UNPARSED:
        return False
    return answer_correct(
        answer, normalize_answer(reference, options), kind=kind, f1_threshold=f1_threshold
    )


class SampledAccuracy(BaseModel):
    model_config = ConfigDict(frozen=True)

    k: int
    n_items: int
    acc_at_1: Rate | None
    """Greedy accuracy (None when no greedy outputs were given)."""
    pass_at_k: Rate | None
    """Empirical: any of an item's first k samples is correct."""
    pass_at_k_unbiased: float | None
    """Mean over items of 1 - C(n-c, k) / C(n, k) using all n samples of each item."""
    mean_sample_accuracy: float | None
    """Mean over items of c / n (the unbiased Pass@1)."""


def sampled_accuracy(
    samples_correct: Sequence[Sequence[bool]],
    k: int,
    greedy_correct: Sequence[bool] | None = None,
    *,
    alpha: float = 0.05,
) -> SampledAccuracy:
    """Acc@1 and Pass@k from per-item correctness of greedy and sampled outputs."""
    if k < 1:
        raise ValueError("k must be >= 1")
    short = [i for i, s in enumerate(samples_correct) if len(s) < k]
    if short:
        raise ValueError(f"items {short[:5]} have fewer than k={k} samples")
    if greedy_correct is not None and len(greedy_correct) != len(samples_correct):
        raise ValueError("greedy and sampled correctness differ in length")
    unbiased = [pass_at_k_unbiased(len(s), sum(map(bool, s)), k) for s in samples_correct]
    return SampledAccuracy(
        k=k,
        n_items=len(samples_correct),
        acc_at_1=None if greedy_correct is None else rate_of(greedy_correct, alpha=alpha),
        pass_at_k=rate_of((any(s[:k]) for s in samples_correct), alpha=alpha),
        pass_at_k_unbiased=float(np.mean(unbiased)) if unbiased else None,
        mean_sample_accuracy=(
            float(np.mean([sum(map(bool, s)) / len(s) for s in samples_correct]))
            if samples_correct
            else None
        ),
    )
