"""What the scheduler reports, as plain data (vLLM ``v1/metrics/stats.py`` style): the engine
never touches an exporter; whoever owns it passes these on (``service.telemetry.prometheus``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SchedulerStats:
    """A change in the scheduler: the audit queue's depth now, and audits given up since the
    previous report, by reason (queue_full, error, shutdown)."""

    audit_queue_depth: int
    audits_dropped: Mapping[str, int] = field(default_factory=dict)


StatsCallback = Callable[[SchedulerStats], None]
