"""Image-sensitivity drift detection: a Bernoulli CUSUM on the shuffled-image flip rate.

Every audited request gives ``flip_shuffled`` in {0, 1}; image sensitivity (IS) is its mean.
A model that stops looking at the image flips less often, so the detector watches for a DROP of
the flip rate from the frozen baseline ``p0`` to a designed alternative ``p1 < p0``
(``audits.science.drift.design``).

Statistic (one-sided lower CUSUM, log-likelihood ratio of p1 against p0)::

    w(x=1) = log(p1 / p0)               < 0   (a flip: evidence for the baseline)
    w(x=0) = log((1 - p1) / (1 - p0))   > 0   (no flip: evidence for the drop)
    S_0 = 0,  S_n = max(0, S_{n-1} + w(x_n)),  alarm at the first n with S_n >= h

The alarm latches until the state is reset (``BernoulliCusum.reset``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from audits.science.drift.design import (
    DEFAULT_DROP,
    default_threshold,
    design_p1,
    designed_h,
    increments,
)

MIN_AUDITS_FOR_DRIFT = 100
"""Below this many audits the monitor reports ``insufficient_data`` instead of ``ok``."""

DriftStatus = Literal["insufficient_data", "ok", "alarm"]


class CusumState(BaseModel):
    """Everything the monitor needs between two audits; small enough for one Redis hash."""

    model_config = ConfigDict(frozen=True)

    statistic: float = Field(default=0.0, ge=0.0)
    n: int = Field(default=0, ge=0)
    """Audits seen since the last reset."""
    alarm: bool = False
    alarm_at: int | None = Field(default=None, ge=1)
    """The value of ``n`` at the audit that raised the alarm."""

    def to_hash(self) -> dict[str, str]:
        """Flat string mapping for ``HSET``; ``alarm_at`` is "" while no alarm was raised."""
        return {
            "statistic": repr(self.statistic),
            "n": str(self.n),
            "alarm": "1" if self.alarm else "0",
            "alarm_at": "" if self.alarm_at is None else str(self.alarm_at),
        }

    @classmethod
    def from_hash(cls, mapping: Mapping[str | bytes, str | bytes]) -> CusumState:
        """Inverse of ``to_hash``; takes the bytes redis-py returns; an empty hash is fresh."""
        fields = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in mapping.items()
        }
        if not fields:
            return cls()
        alarm_at = fields.get("alarm_at", "")
        return cls(
            statistic=float(fields.get("statistic", "0")),
            n=int(fields.get("n", "0")),
            alarm=fields.get("alarm", "0") in ("1", "true", "True"),
            alarm_at=int(alarm_at) if alarm_at else None,
        )


@dataclass(frozen=True)
class BernoulliCusum:
    """One-sided lower CUSUM for a drop of a Bernoulli rate from ``p0`` to ``p1``, threshold h.

    Pure: ``update`` returns a new ``CusumState`` and never mutates its input. For an atomic
    Redis update outside Python, the increments are ``w_flip`` and ``w_stable``.
    """

    p0: float
    p1: float
    h: float

    def __post_init__(self) -> None:
        increments(self.p0, self.p1)
        if not self.h > 0:
            raise ValueError(f"threshold h must be positive, got {self.h}")

    @classmethod
    def for_baseline(cls, p0: float, drop: float = DEFAULT_DROP) -> BernoulliCusum:
        """The service's detector: ``p1 = design_p1(p0, drop)`` and its designed threshold."""
        p1 = design_p1(p0, drop)
        h = default_threshold(p0) if drop == DEFAULT_DROP else designed_h(p0, p1)
        return cls(p0=p0, p1=p1, h=h)

    @cached_property
    def w_flip(self) -> float:
        return increments(self.p0, self.p1)[0]

    @cached_property
    def w_stable(self) -> float:
        return increments(self.p0, self.p1)[1]

    @staticmethod
    def reset() -> CusumState:
        return CusumState()

    def update(self, state: CusumState, x: int | bool) -> CusumState:
        """State after one more audit with ``flip_shuffled = x``."""
        if x not in (0, 1):
            raise ValueError(f"flip must be 0 or 1, got {x!r}")
        w = self.w_flip if x else self.w_stable
        statistic = max(0.0, state.statistic + w)
        n = state.n + 1
        if state.alarm:
            return CusumState(statistic=statistic, n=n, alarm=True, alarm_at=state.alarm_at)
        alarm = statistic >= self.h
        return CusumState(statistic=statistic, n=n, alarm=alarm, alarm_at=n if alarm else None)

    def update_many(self, state: CusumState, xs: Iterable[int | bool]) -> CusumState:
        for x in xs:
            state = self.update(state, x)
        return state


def drift_status(state: CusumState, n_min: int = MIN_AUDITS_FOR_DRIFT) -> DriftStatus:
    """A latched alarm always shows; otherwise ``ok`` only once ``n_min`` audits were seen.

    An alarm before ``n_min`` audits is still reported: the threshold design already bounds
    false alarms from the first audit on.
    """
    if state.alarm:
        return "alarm"
    if state.n < n_min:
        return "insufficient_data"
    return "ok"
