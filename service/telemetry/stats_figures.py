"""The figures of ``/stats``: rates with Wilson intervals per window, drift state, online
accuracy from feedback, Redis health; the response schema and how counts become figures."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field, create_model

from audits.contracts.audit_record import AuditRecord
from audits.contracts.types import ALL_CONDITIONS, COUNTERFACTUALS
from audits.science.drift.cusum import CusumState
from audits.science.intervals import PairedCounts, newcombe_paired_diff, wilson_interval
from audits.science.rates import online_rates
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


def _rate_fields(by_modality: bool) -> dict[str, Any]:
    return {
        rate.label: (RateFigure, Field(description=rate.description))
        for rate in online_rates()
        if rate.by_modality or not by_modality
    }


class _ModalityAudits(BaseModel):
    audits: int


ModalityFigures = create_model(
    "ModalityFigures",
    __base__=_ModalityAudits,
    __doc__="The rates reported per modality label, 95% Wilson intervals.",
    **_rate_fields(by_modality=True),
)


class _WindowAudits(BaseModel):
    window_s: int
    audits: int


WindowFigures = create_model(
    "WindowFigures",
    __base__=_WindowAudits,
    __doc__="Every online rate (``audits.science.rates``) in one window, under its label, "
    "with its 95% Wilson interval; ``by_modality`` holds those reported per modality.",
    **_rate_fields(by_modality=False),
    by_modality=(
        dict[str, ModalityFigures],  # type: ignore[valid-type]
        Field(default_factory=dict),
    ),
)


def _rate_figures(counts: Mapping[str, int], by_modality: bool) -> dict[str, RateFigure]:
    return {
        rate.label: rate_figure(
            counts.get(f"{rate.counter_stem}_k", 0), counts.get(f"{rate.counter_stem}_n", 0)
        )
        for rate in online_rates()
        if rate.by_modality or not by_modality
    }


def window_figures(window_s: int, counts: Mapping[str, int]) -> WindowFigures:  # type: ignore[valid-type]
    return WindowFigures(
        window_s=window_s,
        audits=counts.get("audits", 0),
        **_rate_figures(counts, by_modality=False),
        by_modality={
            modality: ModalityFigures(
                audits=fields.get("audits", 0), **_rate_figures(fields, by_modality=True)
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
