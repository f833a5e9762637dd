"""The one-line answer of ``GET /stats``: is the served model still looking at the image?

``healthy``, ``degraded`` or ``insufficient_data``, with the reasons in words and the numbers
behind them, and for ``insufficient_data`` how much traffic it takes to know. The summary view
(``GET /stats?view=summary``) is this verdict plus each window's headline figures.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel

from audits.science.rates import online_rates
from service.telemetry.stats_figures import RateFigure, StatsReport

HVRR_DEGRADED = 0.4
"""HVRR whose 95% interval lies wholly above this is degraded (the seed paper's RL-tuned
models: 38-43%)."""
MIN_WINDOW_AUDITS = 30
"""A window's figure is judged only over at least this many audits."""

LEGEND = {
    "n": "audits the figure is computed over (for IS: audits whose shuffled condition ran and "
    "both answers parsed)",
    "k": "of those, the audits where it happened (the answer flipped, a claim was made ...)",
    "value": "k / n",
    "lo, hi": "95% Wilson interval of k / n",
}

Status = Literal["healthy", "degraded", "insufficient_data"]
StatsView = Literal["full", "summary"]


class Verdict(BaseModel):
    status: Status
    reasons: list[str]
    next_step: str | None = None


def _fmt(rate: RateFigure) -> str:
    if rate.value is None or rate.lo is None or rate.hi is None:
        return f"n/a (n={rate.n})"
    return f"{rate.value:.3f} [{rate.lo:.3f}, {rate.hi:.3f}] (k={rate.k}, n={rate.n})"


def _requests_for(audits: int, sample_rate: float | None) -> str:
    if not sample_rate:
        return f"{audits} more audited requests (audit=true: sampling is off)"
    return (
        f"{audits} more audits, about {math.ceil(audits / sample_rate)} more production "
        f"requests at the sample rate of {sample_rate:g}"
    )


def verdict_of(report: StatsReport, sample_rate: float | None) -> Verdict:
    drift = report.drift
    longest = max(report.windows.values(), key=lambda w: w.window_s, default=None)
    if drift.alarm:
        return Verdict(
            status="degraded",
            reasons=[
                f"image sensitivity drift alarm: the CUSUM statistic {drift.statistic:.2f} "
                f"crossed its threshold {drift.threshold or 0:.2f} at audit {drift.alarm_at} "
                "since the baseline: answers depend on the image less than they did"
            ],
            next_step="compare IS per modality in the windows; a model update or a new kind of "
            "traffic are the usual causes; after a review, `grounding-audit calibrate` freezes "
            "a new baseline",
        )
    if longest is not None and longest.HVRR.n >= MIN_WINDOW_AUDITS:
        hvrr = longest.HVRR
        if hvrr.lo is not None and hvrr.lo > HVRR_DEGRADED:
            return Verdict(
                status="degraded",
                reasons=[
                    f"hallucinated visual reasoning in {_fmt(hvrr)} of audits over the last "
                    f"{longest.window_s // 60} min: visual claims whose answer no counterfactual "
                    f"changed, above {HVRR_DEGRADED:.0%}"
                ],
                next_step="look at flagged records (GET /audits/<request_id>) for claims the "
                "answer ignores",
            )
    if report.baseline is None:
        missing = max(0, drift.min_audits - drift.warmup_n)
        return Verdict(
            status="insufficient_data",
            reasons=[
                f"no image-sensitivity baseline yet: {drift.warmup_n} of the "
                f"{drift.min_audits} audits it is frozen from"
            ],
            next_step=f"wait for {_requests_for(missing, sample_rate)}",
        )
    if drift.n < drift.min_audits:
        missing = drift.min_audits - drift.n
        return Verdict(
            status="insufficient_data",
            reasons=[f"the drift monitor has seen {drift.n} of {drift.min_audits} audits"],
            next_step=f"wait for {_requests_for(missing, sample_rate)}",
        )
    reasons = [f"no drift alarm over {drift.n} audits since the baseline"]
    if longest is not None:
        reasons.append(f"IS over the last {longest.window_s // 60} min: {_fmt(longest.IS)}")
    return Verdict(status="healthy", reasons=reasons)


HEADLINE = ("IS", "IS_blank", "HVRR", "claim_rate")
"""Always in the summary; every other online rate once a window has audits for it."""


def _headline_rates(window: Any) -> dict[str, str]:
    figures = {rate.label: getattr(window, rate.label) for rate in online_rates()}
    return {
        label: _fmt(figure)
        for label, figure in figures.items()
        if label in HEADLINE or figure.n > 0
    }


def summary_view(report: StatsReport, verdict: Verdict) -> dict[str, Any]:
    """The short /stats a person reads: the verdict and each window's headline figures."""
    return {
        "model": report.model,
        "verdict": verdict.model_dump(),
        "windows": {
            label: {"audits": window.audits, **_headline_rates(window)}
            for label, window in report.windows.items()
        },
        "drift": {
            "status": report.drift.status,
            "audits_seen": report.drift.n,
            "min_audits": report.drift.min_audits,
        },
        "legend": "value [95% interval] (k flagged of n audits); GET /stats for every figure",
    }
