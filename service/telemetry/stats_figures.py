"""The figures of ``/stats``: rates with Wilson intervals per window, drift state, online
accuracy from feedback, Redis health; the response schema and how counts become figures."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from audits.contracts.records import AuditRecord
from audits.contracts.types import ALL_CONDITIONS, COUNTERFACTUALS
from audits.science.drift import BernoulliCusum, CusumState, DriftStatus, drift_status
from audits.science.stats import PairedCounts, newcombe_paired_diff, wilson_interval
from audits.science.stratified_drift import StratifiedDesign, StratumBaseline, design
from service.telemetry.counting import (
    add_counts,
    modality_counts,
    record_increments,
)

log = logging.getLogger(__name__)


MIN_FEEDBACK = 20
"""Online accuracy and VRS are reported once this many requests have feedback."""
P0_MIN, P0_MAX = 0.01, 0.99
"""A CUSUM needs 0 < p0 < 1: an observed baseline rate is clamped into this range."""


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


class Baseline(BaseModel):
    """The frozen in-control flip rate and the detector designed for it."""

    model_config = ConfigDict(frozen=True)

    p0: float = Field(gt=0, lt=1)
    p1: float
    h: float
    w_flip: float
    w_stable: float
    rate: float = Field(ge=0, le=1)
    """The observed (or given) rate before clamping into [P0_MIN, P0_MAX]."""
    n: int | None = None
    """Audits the rate was measured on (None for a number given by hand)."""
    source: str
    set_at: float
    strata: dict[str, StratumBaseline] = Field(default_factory=dict)
    """Per-stratum baselines (``<question kind>|<modality>``) of the case-mix-aware CUSUM
    (``audits.science.stratified_drift``); strata not here use the pooled rate above."""

    @classmethod
    def for_counts(
        cls,
        counts: Mapping[str, tuple[int, int]],
        *,
        source: str,
        now: float | None = None,
    ) -> Baseline:
        """The risk-adjusted detector designed from per-stratum (audits, flips)."""
        detector = design(counts)
        pooled = detector.pooled
        return cls(
            p0=pooled.p0,
            p1=pooled.p1,
            h=detector.h,
            w_flip=pooled.w_flip,
            w_stable=pooled.w_stable,
            rate=pooled.rate,
            n=pooled.n,
            source=source,
            set_at=time.time() if now is None else now,
            strata=detector.strata,
        )

    def stratified(self) -> StratifiedDesign:
        """The per-stratum detector (every stratum pooled when the baseline has none)."""
        pooled = StratumBaseline(
            p0=self.p0,
            p1=self.p1,
            w_flip=self.w_flip,
            w_stable=self.w_stable,
            n=self.n or 0,
            rate=self.rate,
        )
        return StratifiedDesign(pooled=pooled, strata=self.strata, h=self.h, min_stratum_n=0)

    @classmethod
    def for_rate(
        cls, rate: float, *, source: str, n: int | None = None, now: float | None = None
    ) -> Baseline:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"a baseline flip rate lies in [0, 1], got {rate}")
        p0 = min(P0_MAX, max(P0_MIN, rate))
        detector = BernoulliCusum.for_baseline(p0)
        return cls(
            p0=p0,
            p1=detector.p1,
            h=detector.h,
            w_flip=detector.w_flip,
            w_stable=detector.w_stable,
            rate=rate,
            n=n,
            source=source,
            set_at=time.time() if now is None else now,
        )

    def detector(self) -> BernoulliCusum:
        return BernoulliCusum(p0=self.p0, p1=self.p1, h=self.h)

    def to_hash(self) -> dict[str, str]:
        return {
            "p0": repr(self.p0),
            "p1": repr(self.p1),
            "h": repr(self.h),
            "w_flip": repr(self.w_flip),
            "w_stable": repr(self.w_stable),
            "rate": repr(self.rate),
            "n": "" if self.n is None else str(self.n),
            "source": self.source,
            "set_at": f"{self.set_at:.3f}",
            **{
                f"{part}:{name}": value
                for name, stratum in self.strata.items()
                for part, value in (
                    ("w1", repr(stratum.w_flip)),
                    ("w0", repr(stratum.w_stable)),
                    ("p0", repr(stratum.p0)),
                    ("p1", repr(stratum.p1)),
                    ("n", str(stratum.n)),
                    ("rate", repr(stratum.rate)),
                )
            },
        }

    @classmethod
    def from_hash(cls, fields: Mapping[str, str]) -> Baseline | None:
        if "p0" not in fields:
            return None
        return cls(
            p0=float(fields["p0"]),
            p1=float(fields["p1"]),
            h=float(fields["h"]),
            w_flip=float(fields["w_flip"]),
            w_stable=float(fields["w_stable"]),
            rate=float(fields.get("rate") or fields["p0"]),
            n=int(fields["n"]) if fields.get("n") else None,
            source=fields.get("source", "unknown"),
            set_at=float(fields.get("set_at") or 0.0),
            strata={
                name[3:]: StratumBaseline(
                    w_flip=float(value),
                    w_stable=float(fields[f"w0:{name[3:]}"]),
                    p0=float(fields[f"p0:{name[3:]}"]),
                    p1=float(fields[f"p1:{name[3:]}"]),
                    n=int(fields[f"n:{name[3:]}"]),
                    rate=float(fields[f"rate:{name[3:]}"]),
                )
                for name, value in fields.items()
                if name.startswith("w1:")
            },
        )


class DriftFigures(BaseModel):
    status: DriftStatus
    statistic: float
    threshold: float | None
    alarm: bool
    alarm_at: int | None
    n: int
    """Audits the CUSUM has seen since the baseline or the last reset."""
    min_audits: int
    warmup_n: int
    """Audits counted towards an automatic baseline (while none is set)."""


def drift_figures(
    state: CusumState, baseline: Baseline | None, min_audits: int, warmup_n: int = 0
) -> DriftFigures:
    return DriftFigures(
        status=drift_status(state, min_audits) if baseline else "insufficient_data",
        statistic=state.statistic,
        threshold=baseline.h if baseline else None,
        alarm=state.alarm,
        alarm_at=state.alarm_at,
        n=state.n,
        min_audits=min_audits,
        warmup_n=warmup_n,
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


class AuditLedger(BaseModel):
    """Every mirrored audit ends recorded or dropped; what a process that died could not
    report shows as ``unaccounted`` (from Redis, so it survives the process)."""

    mirrored: int
    recorded: int
    dropped: int
    """Given up and counted: queue full, errors, shutdown, records lost from a sink buffer."""
    unaccounted: int
    """mirrored - recorded - dropped: audits queued or running now on some replica, plus audits
    lost with a process that was killed. A value that stays above 0 once traffic has stopped
    and the queues are empty is a loss."""


def audit_ledger(totals: Mapping[str, int]) -> AuditLedger:
    mirrored, recorded = totals.get("mirrored", 0), totals.get("audits", 0)
    dropped = totals.get("dropped", 0) + totals.get("overflowed", 0)
    return AuditLedger(
        mirrored=mirrored,
        recorded=recorded,
        dropped=dropped,
        unaccounted=mirrored - recorded - dropped,
    )


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
