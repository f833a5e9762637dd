"""A plain verdict on the whole audit: is the model's answer driven by the image?

The verdict compares IS (how often the answer changes when the image is swapped for another
patient's) with the oracle IS (how often it *should* change, from the reference answers), over
enough shuffled pairs; HVRR (visual claims with an image-invariant answer) is reported beside it
as a warning. Every number behind a verdict is kept with it, in ``report.json`` too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from audits.reports.format import fmt_rate
from audits.science.metrics import AuditMetrics, BenchmarkMetrics

Label = Literal[
    "image-grounded",
    "partly image-grounded",
    "image-sensitive",
    "image-insensitive",
    "insufficient data",
]

MIN_PAIRS = 30
"""Shuffled pairs (items with a real and a shuffled answer) below which nothing is concluded."""
GROUNDED_SHARE = 0.75
"""Image-grounded: IS's lower 95% bound reaches this share of the oracle IS."""
INSENSITIVE_SHARE = 0.25
"""Image-insensitive: IS's upper 95% bound stays below this share of the oracle IS."""
NO_ORACLE_INSENSITIVE = 0.05
"""Without an oracle IS (no reference answers): image-insensitive below this IS upper bound."""
HVRR_WARNING = 0.10
"""A warning when HVRR reaches this rate."""

THRESHOLDS: dict[str, float] = {
    "min_pairs": MIN_PAIRS,
    "grounded_share_of_oracle": GROUNDED_SHARE,
    "insensitive_share_of_oracle": INSENSITIVE_SHARE,
    "insensitive_is_without_oracle": NO_ORACLE_INSENSITIVE,
    "hvrr_warning": HVRR_WARNING,
}


class Verdict(BaseModel):
    scope: str
    """The benchmark name, or Overall."""
    label: Label
    reasons: list[str]
    """Plain sentences, each with the numbers it rests on."""
    warnings: list[str]
    n_pairs: int
    """Items with both a real and a shuffled answer (IS's denominator)."""
    image_sensitivity: float | None
    oracle_is: float | None
    is_share_of_oracle: float | None
    hvrr: float | None
    thresholds: dict[str, float] = THRESHOLDS


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def verdict_for(m: BenchmarkMetrics) -> Verdict:
    """The verdict on one benchmark (or Overall) from its metrics."""
    iss, oracle, hvrr = m.image_sensitivity, m.oracle_is, m.hvrr
    n_pairs = iss.n if iss is not None else 0
    reasons: list[str] = []
    warnings: list[str] = []
    share = None
    label: Label
    if iss is None or n_pairs < MIN_PAIRS:
        label = "insufficient data"
        reasons.append(
            f"n = {n_pairs} item(s) with a real and a shuffled answer; at least {MIN_PAIRS} "
            "are needed to judge."
        )
    else:
        reasons.append(
            f"IS = {fmt_rate(iss)}: the answer changed for {iss.k} of {iss.n} items when the "
            "image was swapped for another case's."
        )
        if oracle is not None and oracle.value > 0:
            share = iss.value / oracle.value
            reasons.append(
                f"Oracle IS = {fmt_rate(oracle)}: the correct answer changes for that share of "
                f"the swapped pairs; IS is {_pct(share)} of it."
            )
            if iss.lo >= GROUNDED_SHARE * oracle.value:
                label = "image-grounded"
                reasons.append(
                    f"IS's lower bound {_pct(iss.lo)} is at least "
                    f"{_pct(GROUNDED_SHARE)} of the oracle IS."
                )
            elif iss.hi < INSENSITIVE_SHARE * oracle.value:
                label = "image-insensitive"
                reasons.append(
                    f"IS's upper bound {_pct(iss.hi)} is below {_pct(INSENSITIVE_SHARE)} of "
                    "the oracle IS: the answers barely follow the image."
                )
            else:
                label = "partly image-grounded"
                reasons.append(
                    f"IS lies between {_pct(INSENSITIVE_SHARE)} and {_pct(GROUNDED_SHARE)} of "
                    "the oracle IS (95% interval): some answers follow the image, many do not."
                )
        elif iss.hi < NO_ORACLE_INSENSITIVE:
            label = "image-insensitive"
            reasons.append(
                f"No oracle IS (reference answers missing); IS's upper bound {_pct(iss.hi)} is "
                f"below {_pct(NO_ORACLE_INSENSITIVE)}."
            )
        else:
            label = "image-sensitive"
            reasons.append(
                "No oracle IS (reference answers missing): the answers do change with the "
                "image, but how often they should is unknown."
            )
    if hvrr is not None:
        text = (
            f"HVRR = {fmt_rate(hvrr)}: {hvrr.k} of {hvrr.n} outputs make visual claims while "
            "the answer ignores the image."
        )
        if hvrr.value >= HVRR_WARNING:
            warnings.append(f"{text} Hallucinated visual reasoning is common.")
        else:
            reasons.append(text)
    return Verdict(
        scope=m.benchmark,
        label=label,
        reasons=reasons,
        warnings=warnings,
        n_pairs=n_pairs,
        image_sensitivity=None if iss is None else iss.value,
        oracle_is=None if oracle is None else oracle.value,
        is_share_of_oracle=share,
        hvrr=None if hvrr is None else hvrr.value,
    )


def audit_verdicts(metrics: AuditMetrics) -> dict[str, Verdict]:
    """Overall first, then one verdict per benchmark when there are several."""
    verdicts = {metrics.overall.benchmark: verdict_for(metrics.overall)}
    if len(metrics.benchmarks) > 1:
        verdicts |= {name: verdict_for(m) for name, m in metrics.benchmarks.items()}
    return verdicts


def verdict_lines(verdict: Verdict) -> list[str]:
    """The verdict as Markdown lines: the label in bold, then every reason and warning."""
    lines = [f"**Verdict: {verdict.label}** ({verdict.scope}, n = {verdict.n_pairs} pairs)", ""]
    lines += [f"- {reason}" for reason in verdict.reasons]
    lines += [f"- Warning: {warning}" for warning in verdict.warnings]
    return lines
