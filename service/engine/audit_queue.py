"""The audit queues both engines keep (the in-process scheduler and the upstream client).

Interactive audits (the /audit endpoint) wait in a bounded queue whose caller gets an error when
it is full. Mirrored audits wait in a queue bounded in count and in bytes (the images the queued
audits pin): on overflow it drops its OLDEST entries, because fresher audits describe the
model's current behaviour better (``queue_full`` beyond the count, ``queue_bytes`` beyond the
byte budget); an audit that alone exceeds the byte budget is dropped as ``queue_bytes``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from audits.contracts.backend import VLMBackend
from service.engine.stats import SchedulerStats, StatsCallback
from service.errors import Overloaded

log = logging.getLogger(__name__)

Step = Callable[[VLMBackend], None]


class EngineStopped(Overloaded):
    """The engine is shutting down: it takes no new work, and queued work may be dropped."""


class AuditQueueFull(Overloaded):
    """An audit queue had no room (on-demand: refused; mirrored: the oldest dropped)."""


DROP_MESSAGES = {
    "queue_full": "the audit queue was full",
    "queue_bytes": "the images of the queued audits reached the queue's byte budget",
    "shutdown": "the service is shutting down",
}


@dataclass
class AuditTask:
    """A sequence of model steps plus what to do when it ends (result or error)."""

    steps: Iterator[Step]
    on_done: Callable[[BaseException | None], None]
    enqueued_at: float = field(default_factory=time.monotonic)
    retry_step: Step | None = None
    """A step interrupted by production work, to run again before the next one."""
    preemptions: int = 0
    nbytes: int = 0
    """Memory the task pins while it waits (its images), counted against the byte budget."""


def finish_task(task: AuditTask, error: BaseException | None) -> None:
    try:
        task.on_done(error)
    except Exception:
        log.exception("audit completion handler failed")


class AuditQueues:
    """Submission, overflow and shutdown of the two audit queues; ``_cond`` also guards the
    engine's own state."""

    def _init_audit_queues(
        self,
        audit_capacity: int,
        interactive_capacity: int,
        on_stats: StatsCallback | None,
        audit_max_bytes: int | None = None,
    ) -> None:
        self._audit_capacity = audit_capacity
        self._audit_max_bytes = audit_max_bytes
        self._interactive_capacity = interactive_capacity
        self._audits: deque[AuditTask] = deque()
        self._interactive: deque[AuditTask] = deque()
        self._cond = threading.Condition()
        self._accepting = True
        self._on_stats: StatsCallback = on_stats or (lambda stats: None)

    def submit_audit(self, task: AuditTask) -> None:
        """Queue a mirrored audit; never blocks. Beyond the count or the byte budget the oldest
        queued audits are dropped (an audit larger than the whole budget is not queued)."""
        evicted: list[tuple[AuditTask, str]] = []
        with self._cond:
            if not self._accepting:
                evicted.append((task, "shutdown"))
            elif self._audit_max_bytes is not None and task.nbytes > self._audit_max_bytes:
                evicted.append((task, "queue_bytes"))
            else:
                self._audits.append(task)
                while len(self._audits) > self._audit_capacity:
                    evicted.append((self._audits.popleft(), "queue_full"))
                if self._audit_max_bytes is not None:
                    queued = sum(t.nbytes for t in self._audits)
                    while queued > self._audit_max_bytes:
                        oldest = self._audits.popleft()
                        queued -= oldest.nbytes
                        evicted.append((oldest, "queue_bytes"))
                self._cond.notify()
            depth = len(self._audits)
        self._on_stats(SchedulerStats(audit_queue_depth=depth))
        for dropped, reason in evicted:
            self._report_drop(reason)
            finish_task(dropped, AuditQueueFull(f"dropped: {DROP_MESSAGES[reason]}"))

    @property
    def audit_queue_bytes(self) -> int:
        """Bytes the waiting mirrored audits pin."""
        with self._cond:
            return sum(task.nbytes for task in self._audits)

    def submit_interactive(self, task: AuditTask) -> None:
        with self._cond:
            if not self._accepting:
                raise EngineStopped("the service is shutting down")
            if len(self._interactive) >= self._interactive_capacity:
                raise AuditQueueFull("too many on-demand audits are waiting; retry shortly")
            self._interactive.append(task)
            self._cond.notify()

    @property
    def audit_queue_depth(self) -> int:
        with self._cond:
            return len(self._audits)

    def _report_drop(self, reason: str) -> None:
        self._on_stats(
            SchedulerStats(audit_queue_depth=len(self._audits), audits_dropped={reason: 1})
        )

    def _take_queued(self) -> list[AuditTask]:
        """Empty both queues (the caller holds ``_cond``); interactive ones first."""
        taken = list(self._interactive) + list(self._audits)
        self._interactive.clear()
        self._audits.clear()
        return taken

    def _drop_at_shutdown(self, tasks: list[AuditTask]) -> None:
        for task in tasks:
            self._report_drop("shutdown")
            finish_task(task, EngineStopped("the service shut down before this audit ran"))
