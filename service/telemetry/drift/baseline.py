"""The frozen in-control baseline of a model's drift detector, and its Redis hash codec
(``{grounding}:baseline:<model>``)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from audits.science.drift.cusum import BernoulliCusum
from audits.science.drift.stratified import (
    P0_MAX,
    P0_MIN,
    StratifiedDesign,
    StratumBaseline,
    clamp_rate,
    design,
)

__all__ = ["P0_MAX", "P0_MIN", "Baseline"]


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
    (``audits.science.drift.stratified``); strata not here use the pooled rate above."""

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
        p0 = clamp_rate(rate)
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
