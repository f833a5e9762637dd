"""The figures of ``/stats``: rates with Wilson intervals per window, drift state, online
accuracy from feedback, Redis health; the response schema and how counts become figures."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from audits.contracts.records import AuditRecord
from audits.contracts.types import ALL_CONDITIONS, COUNTERFACTUALS
from audits.science.drift import CusumState
from audits.science.stats import PairedCounts, newcombe_paired_diff, wilson_interval
from service.telemetry.counting import (
    add_counts,
    modality_counts,
    record_increments,
)
from service.telemetry.drift.baseline import Baseline
from service.telemetry.drift.figures import DriftFigures
from service.telemetry.ledger import AuditLedger

log = logging.getLogger(__name__)


MIN_FEEDBACK = 20
"""Online accuracy and VRS are reported once this many requests have feedback."""


class RateFigure(BaseModel):
    """``k / n`` with its 95% Wilson interval; value and interval are null when ``n = 0``."""

    value: float | None
    lo: float | None
    hi: float | None
    n: int
    k: int


def rate_figure(k: int, n: int) -> RateFigure:
    if n <= 0:
        return RateFigure(value=None, lo=None, hi=None, n=0, k=0)
    lo, hi = wilson_interval(k, n)
    return RateFigure(value=k / n, lo=lo, hi=hi, n=n, k=k)


class ModalityFigures(BaseModel):
    audits: int
    IS: RateFigure
    IS_blank: RateFigure
    HVRR: RateFigure


class WindowFigures(BaseModel):
    window_s: int
    audits: int
    IS: RateFigure
    IS_blank: RateFigure
    HVRR: RateFigure
    claim_rate: RateFigure
    modality_skeptic_rate: RateFigure
    """Answers committed although the reasoning says the image does not fit the question."""
    by_modality: dict[str, ModalityFigures] = Field(default_factory=dict)
    """IS, IS_blank and HVRR per modality label with audits in the window, 95% Wilson
    intervals."""


def window_figures(window_s: int, counts: Mapping[str, int]) -> WindowFigures:
    def get(field: str) -> int:
        return counts.get(field, 0)

    return WindowFigures(
        window_s=window_s,
        audits=get("audits"),
        IS=rate_figure(get("shuffled_k"), get("shuffled_n")),
        IS_blank=rate_figure(get("blank_k"), get("blank_n")),
        HVRR=rate_figure(get("hvr_k"), get("hvr_n")),
        claim_rate=rate_figure(get("claim_k"), get("audits")),
        modality_skeptic_rate=rate_figure(get("skeptic_k"), get("audits")),
        by_modality={
            modality: ModalityFigures(
                audits=fields.get("audits", 0),
                IS=rate_figure(fields.get("shuffled_k", 0), fields.get("shuffled_n", 0)),
                IS_blank=rate_figure(fields.get("blank_k", 0), fields.get("blank_n", 0)),
                HVRR=rate_figure(fields.get("hvr_k", 0), fields.get("hvr_n", 0)),
            )
            for modality, fields in sorted(modality_counts(counts).items())
            if fields.get("audits", 0) > 0
        },
    )


class Counts(BaseModel):
    audits: int
    conditions_run: dict[str, int]
    skipped: dict[str, int]


def counts_from(totals: Mapping[str, int]) -> Counts:
    return Counts(
        audits=totals.get("audits", 0),
        conditions_run={c.value: totals.get(f"run_{c.value}", 0) for c in COUNTERFACTUALS},
        skipped={c.value: totals.get(f"skipped_{c.value}", 0) for c in COUNTERFACTUALS},
    )


class DiffFigure(BaseModel):
    value: float
    lo: float
    hi: float
    n: int


class FeedbackFigures(BaseModel):
    n: int
    """Requests with a reference answer (each counted once)."""
    min_feedback: int = MIN_FEEDBACK
    accuracy: dict[str, RateFigure] | None
    """Per condition, once ``n >= min_feedback``."""
    vrs: DiffFigure | None
    """Acc_real - Acc_shuffled over requests judged under both, Newcombe paired 95% interval."""


def feedback_figures(counts: Mapping[str, int]) -> FeedbackFigures:
    """From ``{grounding}:feedback:<model>``: n, ``n_<c>``/``correct_<c>``,
    ``pair_<real><shuf>``."""
    n = counts.get("n", 0)
    if n < MIN_FEEDBACK:
        return FeedbackFigures(n=n, accuracy=None, vrs=None)
    accuracy = {
        c.value: rate_figure(counts.get(f"correct_{c.value}", 0), counts.get(f"n_{c.value}", 0))
        for c in ALL_CONDITIONS
        if counts.get(f"n_{c.value}", 0) > 0
    }
    pairs = PairedCounts(
        both=max(0, counts.get("pair_11", 0)),
        first_only=max(0, counts.get("pair_10", 0)),
        second_only=max(0, counts.get("pair_01", 0)),
        neither=max(0, counts.get("pair_00", 0)),
    )
    vrs = None
    if pairs.n:
        value, lo, hi = newcombe_paired_diff(pairs)
        vrs = DiffFigure(value=value, lo=lo, hi=hi, n=pairs.n)
    return FeedbackFigures(n=n, accuracy=accuracy, vrs=vrs)


class RedisHealth(BaseModel):
    connected: bool
    buffered: int
    overflowed: int
    last_error: str | None = None


class StatsReport(BaseModel):
    """What ``GET /stats`` answers."""

    model: str
    source: str
    """``redis`` (every replica) or ``local`` (this replica's records; Redis unreachable)."""
    as_of: float
    counts: Counts
    windows: dict[str, WindowFigures]
    baseline: Baseline | None
    drift: DriftFigures
    feedback: FeedbackFigures
    audit_queue_depth: int
    ledger: AuditLedger | None = None
    """From Redis (every replica, surviving restarts); None when answered from local records."""
    redis: RedisHealth | None
    """None when no Redis is configured."""


def local_view(
    records: Sequence[AuditRecord], model: str, windows_s: Sequence[int], now: float
) -> tuple[dict[str, int], dict[int, dict[str, int]]]:
    """(totals, per-window counts) of this replica's in-memory records of ``model``."""
    totals: dict[str, int] = {}
    per_window: dict[int, dict[str, int]] = {w: {} for w in windows_s}
    for record in records:
        if record.model != model:
            continue
        inc = record_increments(record)
        add_counts(totals, inc)
        for window in windows_s:
            if now - window < record.ts <= now:
                add_counts(per_window[window], inc)
    return totals, per_window


class StatsParts(BaseModel):
    totals: dict[str, int]
    per_window: dict[int, dict[str, int]]
    baseline: Baseline | None = None
    state: CusumState = Field(default_factory=CusumState)
    warmup_n: int = 0
    feedback: dict[str, int] = Field(default_factory=dict)
