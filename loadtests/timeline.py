"""When the model ran production work and when audit steps: the evidence behind a p99 change.

The engine owns the model and runs one call at a time, except that it serves production in
the middle of an audit step (between two decoding steps of the audit's generation, or between
chunks of its scored rows): such a production call lies inside the audit call's interval. The
audit's own work is its interval minus the production calls inside it: a sequence of slices. A
production request that arrives during an audit slice waits for the rest of that slice; this
module measures how often that happens and how long it costs.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from audits.contracts.backend import BackendBase, BackendCapabilities, VLMBackend, VLMInput


@dataclass(frozen=True)
class ProductionInput(VLMInput):
    """A production item; the same model input, marked so the timeline can tell it apart."""


@dataclass
class TimedBackend(BackendBase):
    """Wraps a backend and records (kind, start, end) of every call, kind production or audit."""

    backend: VLMBackend
    calls: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def model_name(self) -> str:
        return self.backend.model_name

    @property
    def capabilities(self) -> BackendCapabilities:  # type: ignore[override]
        """As the wrapped backend: the engine slices audit decoding only where it can."""
        return self.backend.capabilities

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
    """Whole audit steps (model calls), production served inside them included."""
    blocked_waits_ms: list[float]
    """For each production request that arrived while an audit slice ran: the rest of it."""
    arrivals: int
    audit_slices_ms: list[float] = field(default_factory=list)
    """The audit's own work between two production calls served inside an audit step."""


def audit_slices(
    audits: Sequence[tuple[float, float]], production: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Audit intervals minus the production intervals inside them, in time order."""
    production = sorted(production)
    starts = [start for start, _ in production]
    slices = []
    for start, end in sorted(audits):
        cursor = start
        index = bisect.bisect_left(starts, start)
        while index < len(production) and production[index][0] < end:
            p_start, p_end = production[index]
            if p_start > cursor:
                slices.append((cursor, p_start))
            cursor = max(cursor, p_end)
            index += 1
        if end > cursor:
            slices.append((cursor, end))
    return slices


def clip(start: float, end: float, low: float, high: float) -> float:
    return max(0.0, min(end, high) - max(start, low))


def timeline(
    calls: Sequence[tuple[str, float, float]],
    arrivals: Sequence[float],
    low: float,
    high: float,
) -> Timeline:
    audits = sorted((start, end) for kind, start, end in calls if kind == "audit")
    production = [(start, end) for kind, start, end in calls if kind == "production"]
    slices = audit_slices(audits, production)
    starts = [start for start, _ in slices]
    blocked = []
    inside = [t for t in arrivals if low <= t <= high]
    for arrival in inside:
        index = bisect.bisect_right(starts, arrival) - 1
        if index >= 0 and slices[index][1] > arrival:
            blocked.append((slices[index][1] - arrival) * 1000)
    return Timeline(
        production_busy_s=sum(clip(s, e, low, high) for s, e in production),
        audit_busy_s=sum(clip(s, e, low, high) for s, e in slices),
        audit_steps_ms=[(e - s) * 1000 for s, e in audits if low <= s and e <= high],
        blocked_waits_ms=blocked,
        arrivals=len(inside),
        audit_slices_ms=[(e - s) * 1000 for s, e in slices if low <= s and e <= high],
    )
