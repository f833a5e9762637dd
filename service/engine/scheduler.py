"""The one component that owns the model: production first, audits only in spare time.

BentoML's adaptive batching has no notion of priority, so a single worker thread runs its own
loop. Waiting production requests are always taken first (batched up to ``max_batch_size``).
Audits run one step (one batched model call) at a time, only while no production request
waits, and every audit step is cut into short slices with production served between them:

- audit generation (a backend that declares ``preemption`` polls ``should_stop`` between
  decoding steps): at each decoding step the engine serves every waiting production batch
  first, then lets the audit decode its next token. The audit keeps its KV cache and loses no
  work; a production request waits at most for the rest of one audit decoding step (or of the
  audit's prefill, one forward pass over its <= 3 rows);
- audit scoring: one forward pass of at most ``audit_rows_per_step`` rows at a time, production
  served between the chunks.

So a production request that arrives while audit work holds the model waits for at most one
slice: one decoding step, one prefill, or one chunk of scored rows. A preemptible backend keeps
what its model holds between decoding steps (Qwen2-VL's ``rope_deltas``) across the production
served in the middle of an audit's generation (``BackendCapabilities.preemption``). A backend
that does not batch gets its production one request per call.

Queues: service/engine/audit_queue.py (shared with the upstream engine).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from audits.contracts.backend import (
    BackendBase,
    Generation,
    GenerationInterrupted,
    GenerationParams,
    VLMBackend,
    VLMInput,
)
from service.engine.audit_queue import (
    AuditQueues,
    AuditTask,
    EngineStopped,
    finish_task,
)
from service.engine.stats import SchedulerStats, StatsCallback

log = logging.getLogger(__name__)

AUDIT_ROWS_PER_STEP = 4
"""Rows of one audit forward pass (score mode) before waiting production is served. On a CPU a
forward pass costs about its rows, so 4 rows (a score-mode audit of a yes/no question has 8)
bound the wait at half the pass at no extra cost; on a GPU each extra chunk is one more short
forward pass."""


@dataclass
class _ProductionItem:
    item: VLMInput
    future: Future[Generation]
    params: GenerationParams = field(default_factory=GenerationParams)


class InferenceEngine(AuditQueues):
    def __init__(
        self,
        backend: VLMBackend,
        *,
        max_batch_size: int = 8,
        audit_queue_size: int = 256,
        audit_queue_bytes: int | None = None,
        interactive_queue_size: int = 16,
        on_stats: StatsCallback | None = None,
        audit_rows_per_step: int = AUDIT_ROWS_PER_STEP,
    ) -> None:
        self._init_audit_queues(
            audit_queue_size, interactive_queue_size, on_stats, audit_max_bytes=audit_queue_bytes
        )
        self.backend = backend
        self.audit_backend = backend
        self.max_batch_size = max_batch_size if backend.capabilities.batch else 1
        self.audit_rows_per_step = max(1, audit_rows_per_step)
        self._production: deque[_ProductionItem] = deque()
        self._running = False
        self._thread: threading.Thread | None = None
        self._busy_s = 0.0
        self._timing_depth = 0
        self.preemptions = 0
        """Production batches served between the slices of an audit step (the audit paused
        for them and then went on where it was)."""
        self._current: AuditTask | None = None
        self._abandoned: AuditTask | None = None
        self._dropped_mid_audit = 0
        self._started_at = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._running:
                return
            self._running = True
        self._thread = threading.Thread(target=self._loop, name="inference-engine", daemon=True)
        self._thread.start()

    def stop(self, grace_s: float = 10.0) -> int:
        """Finish production work, give queued audits ``grace_s``, drop the rest.

        Returns the number of audits dropped with reason ``shutdown``.
        """
        deadline = time.monotonic() + grace_s
        with self._cond:
            self._accepting = False
            self._cond.notify_all()
        while time.monotonic() < deadline:
            with self._cond:
                if not (self._production or self._interactive or self._audits):
                    break
            time.sleep(0.02)
        with self._cond:
            dropped = self._take_queued()
            self._running = False
            self._cond.notify_all()
        self._drop_at_shutdown(dropped)
        if self._thread is not None:
            self._thread.join(timeout=max(1.0, grace_s))
        with self._cond:  # an audit whose model call outlived the wait is given up here
            abandoned = self._current
            if abandoned is not None:
                self._abandoned, self._current = abandoned, None
                self._dropped_mid_audit += 1
            count = len(dropped) + self._dropped_mid_audit
        if abandoned is not None:
            self._report_drop("shutdown")
            finish_task(abandoned, EngineStopped("the service shut down while this audit ran"))
        self._on_stats(SchedulerStats(audit_queue_depth=0))
        return count

    # -- submission ------------------------------------------------------------------------
    def submit_production(
        self, item: VLMInput, params: GenerationParams | None = None
    ) -> Future[Generation]:
        future: Future[Generation] = Future()
        with self._cond:
            if not self._accepting:
                raise EngineStopped("the service is shutting down")
            self._production.append(_ProductionItem(item, future, params or GenerationParams()))
            self._cond.notify()
        return future

    async def generate_detailed(
        self, item: VLMInput, params: GenerationParams | None = None
    ) -> Generation:
        return await asyncio.wrap_future(self.submit_production(item, params))

    async def generate(self, item: VLMInput) -> str:
        return (await self.generate_detailed(item)).text

    # -- introspection ---------------------------------------------------------------------
    @property
    def production_waiting(self) -> int:
        with self._cond:
            return len(self._production)

    def utilization(self) -> float:
        elapsed = time.monotonic() - self._started_at
        return self._busy_s / elapsed if elapsed > 0 else 0.0

    # -- the loop --------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._running and not (self._production or self._interactive or self._audits):
                    self._cond.wait(timeout=0.5)
                if not self._running and not self._production:
                    return
                if self._production:
                    batch = self._take_production_batch()
                    task, from_mirror = None, False
                else:
                    batch = []
                    from_mirror = not self._interactive
                    queue = self._audits if from_mirror else self._interactive
                    task = queue.popleft() if queue else None
                    self._current = task
                depth = len(self._audits)
            if batch:
                # a caller whose request timed out has cancelled its future: skip it; the others
                # become running, so a later timeout cannot cancel them under set_result
                live = [p for p in batch if p.future.set_running_or_notify_cancel()]
                if live:
                    self._run_production(live)
            elif task is not None:
                self._on_stats(SchedulerStats(audit_queue_depth=depth))
                self._run_audit_step(task, from_mirror)

    def _take_production_batch(self) -> list[_ProductionItem]:
        """The oldest waiting request and, up to the batch size, later ones that decode the
        same way (one generate call has one token budget and temperature). Holds the lock."""
        first = self._production.popleft()
        batch, rest = [first], deque[_ProductionItem]()
        while self._production:
            entry = self._production.popleft()
            if len(batch) < self.max_batch_size and entry.params == first.params:
                batch.append(entry)
            else:
                rest.append(entry)
        self._production = rest
        return batch

    def _timed(self, work: Callable[[], None]) -> None:
        """Run model work and count its time busy (production served inside an audit step is
        already inside the audit's time, so only the outermost call counts)."""
        started = time.monotonic()
        self._timing_depth += 1
        try:
            work()
        finally:
            self._timing_depth -= 1
            if self._timing_depth == 0:
                self._busy_s += time.monotonic() - started

    def _serve_waiting_production(self) -> bool:
        """Between two slices of an audit step: serve every waiting production batch. Returns
        False (the audit goes on)."""
        while True:
            with self._cond:
                if not self._production:
                    return False
                batch = self._take_production_batch()
            live = [p for p in batch if p.future.set_running_or_notify_cancel()]
            if live:
                self._run_production(live)
                self.preemptions += 1

    def _run_production(self, batch: list[_ProductionItem]) -> None:
        try:
            outputs: list[Generation] = []
            items, params = [p.item for p in batch], batch[0].params
            self._timed(lambda: outputs.extend(self.backend.generate_detailed(items, params)))
            for entry, text in zip(batch, outputs, strict=True):
                entry.future.set_result(text)
        except Exception as exc:  # one bad item must not fail its batch mates
            if len(batch) == 1:
                log.exception("production inference failed")
                batch[0].future.set_exception(exc)
                return
            for entry in batch:
                self._run_production([entry])

    def _release(self, task: AuditTask) -> bool:
        """This thread is done with ``task``'s step; False when stop() has given it up."""
        with self._cond:
            self._current = None
            return task is not self._abandoned

    def _backend_for(self, task: AuditTask) -> VLMBackend:
        """The backend as an audit step sees it: sliced, production served between slices."""
        return _SlicedBackend(
            self.backend,
            between_slices=self._serve_waiting_production,
            rows_per_step=self.audit_rows_per_step,
            sliced_decoding=self.backend.capabilities.preemption,
        )

    def _run_audit_step(self, task: AuditTask, from_mirror: bool) -> None:
        step, task.retry_step = task.retry_step, None
        if step is None:
            try:
                step = next(task.steps)
            except StopIteration:
                if self._release(task):
                    finish_task(task, None)
                return
        backend = self._backend_for(task)
        try:
            self._timed(lambda: step(backend))
        except GenerationInterrupted:
            task.preemptions += 1
            task.retry_step = step
            self.preemptions += 1
        except Exception as exc:
            log.warning("audit step failed: %s", exc)
            if self._release(task):
                self._report_drop("error")
                finish_task(task, exc)
            return
        with self._cond:
            self._current = None
            if task is self._abandoned:
                return
            if self._running:  # more steps: back to the front, behind any production work
                (self._audits if from_mirror else self._interactive).appendleft(task)
                return
            # stop() has emptied the queues: settle it here
            complete = task.retry_step is None and _exhausted(task)
            if not complete:
                self._dropped_mid_audit += 1
        if complete:
            finish_task(task, None)
        else:
            self._report_drop("shutdown")
            finish_task(task, EngineStopped("the service shut down while this audit ran"))


class _SlicedBackend(BackendBase):
    """The engine's backend as an audit step sees it: short slices, production in between.

    ``generate`` hands the backend a ``should_stop`` that it polls between decoding steps;
    instead of stopping the audit, the poll serves waiting production and returns False, so
    the audit goes on from where it was (its KV cache kept). ``score`` runs at most
    ``rows_per_step`` rows per forward pass, serving production between the chunks.
    """

    def __init__(
        self,
        backend: VLMBackend,
        between_slices: Callable[[], bool],
        rows_per_step: int,
        sliced_decoding: bool,
    ) -> None:
        self._backend = backend
        self._between = between_slices
        self._rows = rows_per_step
        self._sliced_decoding = sliced_decoding
        self.model_name = backend.model_name
        self.capabilities = backend.capabilities

    def generate(self, items: Sequence[VLMInput], **kwargs: Any) -> list[str]:
        if not self._sliced_decoding:
            return self._backend.generate(items, **kwargs)
        return self._backend.generate(items, should_stop=self._between, **kwargs)  # type: ignore[call-arg]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        values: list[float] = []
        for start in range(0, len(items), self._rows):
            if start:
                self._between()
            end = start + self._rows
            values.extend(self._backend.score(items[start:end], answers[start:end]))
        return values


def _exhausted(task: AuditTask) -> bool:
    """Whether the audit has no step left (advancing the generator runs no model call)."""
    try:
        next(task.steps)
    except StopIteration:
        return True
    return False
