"""The drift part of ``/stats``: the CUSUM's state judged against the frozen baseline."""

from __future__ import annotations

from pydantic import BaseModel

from audits.science.drift.cusum import CusumState, DriftStatus, drift_status
from service.telemetry.drift.baseline import Baseline


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
