"""When the model ran production work and when audit steps: the evidence behind a p99 change.

The engine owns the model and runs one call at a time, so the calls form a timeline of
non-overlapping intervals. A production request that arrives during an audit step waits for
the rest of that step; this module measures how often that happens and how long it costs.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from audits.contracts.backend import VLMBackend, VLMInput


@dataclass(frozen=True)
class ProductionInput(VLMInput):
    """A production item; the same model input, marked so the timeline can tell it apart."""


@dataclass
class TimedBackend:
    """Wraps a backend and records (kind, start, end) of every call, kind production or audit."""

    backend: VLMBackend
    calls: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def model_name(self) -> str:
        return self.backend.model_name

    def generate(self, items: Sequence[VLMInput], **kwargs: object) -> list[str]:
        kind = "production" if items and isinstance(items[0], ProductionInput) else "audit"
        started = time.perf_counter()
        try:
            return self.backend.generate(items, **kwargs)  # type: ignore[arg-type]
        finally:
            self.calls.append((kind, started, time.perf_counter()))

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        started = time.perf_counter()
        try:
            return self.backend.score(items, answers)
        finally:
            self.calls.append(("audit", started, time.perf_counter()))


@dataclass
class Timeline:
    """Model calls and production arrivals inside one measurement window."""

    production_busy_s: float
    audit_busy_s: float
    audit_steps_ms: list[float]
    blocked_waits_ms: list[float]
    """For each production request that arrived while an audit step ran: the rest of that step."""
    arrivals: int


def clip(start: float, end: float, low: float, high: float) -> float:
    return max(0.0, min(end, high) - max(start, low))


def timeline(
    calls: Sequence[tuple[str, float, float]],
    arrivals: Sequence[float],
    low: float,
    high: float,
) -> Timeline:
    audits = sorted((start, end) for kind, start, end in calls if kind == "audit")
    starts = [start for start, _ in audits]
    blocked = []
    inside = [t for t in arrivals if low <= t <= high]
    for arrival in inside:
        index = bisect.bisect_right(starts, arrival) - 1
        if index >= 0 and audits[index][1] > arrival:
            blocked.append((audits[index][1] - arrival) * 1000)
    return Timeline(
        production_busy_s=sum(clip(s, e, low, high) for k, s, e in calls if k == "production"),
        audit_busy_s=sum(clip(s, e, low, high) for s, e in audits),
        audit_steps_ms=[(e - s) * 1000 for s, e in audits if low <= s and e <= high],
        blocked_waits_ms=blocked,
        arrivals=len(inside),
    )
