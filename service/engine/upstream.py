"""Upstream mode: the model is served elsewhere (vLLM, SGLang, TGI) behind an OpenAI-compatible
API, and this engine forwards to it instead of owning a model (the engine of every backend that
declares ``concurrent``: ``service.startup``).

- Production requests are forwarded at once, each on its own thread (up to the service's
  concurrency limit), with no retries: an upstream error raises ``UpstreamFailed``, a timeout
  ``UpstreamTimedOut`` (``service.errors``).
- Audits go to the same server with a lower priority (a request field, vLLM's ``priority``
  under ``--scheduling-policy priority``; field name and value are settings; production requests
  carry no such field). At most ``audit_concurrency`` audits run at once, and only
  ``busy_audit_concurrency`` while production requests are in flight. Upstream failures are
  retried a few times, then the audit is dropped and counted (reason ``upstream_error``).
- The queues are those of the in-process engine: mirrored audits bounded (oldest dropped,
  ``queue_full``), on-demand audits bounded (the caller gets an error when full).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from audits.backends.openai_http import UpstreamError
from audits.contracts.backend import Generation, GenerationParams, VLMBackend, VLMInput
from service.engine.audit_queue import AuditQueues, EngineStopped, finish_task
from service.engine.stats import SchedulerStats, StatsCallback
from service.errors import UpstreamFailed, UpstreamTimedOut

log = logging.getLogger(__name__)


class UpstreamEngine(AuditQueues):
    def __init__(
        self,
        production: VLMBackend,
        audits: VLMBackend,
        *,
        production_concurrency: int = 64,
        audit_concurrency: int = 4,
        busy_audit_concurrency: int = 1,
        audit_queue_size: int = 256,
        audit_queue_bytes: int | None = None,
        interactive_queue_size: int = 16,
        on_stats: StatsCallback | None = None,
    ) -> None:
        self._init_audit_queues(
            audit_queue_size, interactive_queue_size, on_stats, audit_max_bytes=audit_queue_bytes
        )
        self.backend = production
        self.audit_backend = audits
        self._production_pool = ThreadPoolExecutor(
            max_workers=production_concurrency, thread_name_prefix="upstream-production"
        )
        self.audit_concurrency = audit_concurrency
        self.busy_audit_concurrency = min(busy_audit_concurrency, audit_concurrency)
        self._running = False
        self._workers: list[threading.Thread] = []
        self.production_in_flight = 0
        self.audits_running = 0
        self.audits_completed = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._running:
                return
            self._running = True
        for index in range(self.audit_concurrency):
            worker = threading.Thread(
                target=self._audit_loop, name=f"upstream-audit-{index}", daemon=True
            )
            worker.start()
            self._workers.append(worker)

    def stop(self, grace_s: float = 10.0) -> int:
        """Queued and running audits get ``grace_s``; the rest are dropped (``shutdown``)."""
        deadline = time.monotonic() + grace_s
        with self._cond:
            self._accepting = False
            self._cond.notify_all()
            while (self._audits or self._interactive or self.audits_running) and (
                time.monotonic() < deadline
            ):
                self._cond.wait(timeout=0.05)
            dropped = self._take_queued()
            still_running = self.audits_running
            self._running = False
            self._cond.notify_all()
        self._drop_at_shutdown(dropped)
        for _ in range(still_running):
            self._report_drop("shutdown")
        self._production_pool.shutdown(wait=False, cancel_futures=True)
        self._on_stats(SchedulerStats(audit_queue_depth=0))
        return len(dropped) + still_running

    # -- production ------------------------------------------------------------------------
    async def generate_detailed(
        self, item: VLMInput, params: GenerationParams | None = None
    ) -> Generation:
        with self._cond:
            if not self._accepting:
                raise EngineStopped("the service is shutting down")
            self.production_in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            results = await loop.run_in_executor(
                self._production_pool,
                self.backend.generate_detailed,
                [item],
                params or GenerationParams(),
            )
            return results[0]
        except UpstreamError as exc:
            failed = UpstreamTimedOut if exc.timeout else UpstreamFailed
            raise failed(f"the upstream model server failed: {exc}") from exc
        finally:
            with self._cond:
                self.production_in_flight -= 1
                self._cond.notify_all()

    async def generate(self, item: VLMInput) -> str:
        return (await self.generate_detailed(item)).text

    # -- audits ----------------------------------------------------------------------------
    def _may_start_audit(self) -> bool:
        limit = self.busy_audit_concurrency if self.production_in_flight else self.audit_concurrency
        return bool(self._interactive or self._audits) and self.audits_running < limit

    def _audit_loop(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._may_start_audit():
                    self._cond.wait(timeout=0.5)
                if not self._running:
                    return
                from_mirror = not self._interactive
                task = (self._audits if from_mirror else self._interactive).popleft()
                self.audits_running += 1
                depth = len(self._audits)
            self._on_stats(SchedulerStats(audit_queue_depth=depth))
            error: BaseException | None = None
            try:
                for step in task.steps:
                    step(self.audit_backend)
            except Exception as exc:
                error = exc
                log.warning("upstream audit failed: %s", exc)
            with self._cond:
                self.audits_running -= 1
                abandoned = not self._running
                if error is None and not abandoned:
                    self.audits_completed += 1
                self._cond.notify_all()
            if abandoned:  # stop() has counted it already
                finish_task(task, EngineStopped("the service shut down while this audit ran"))
                continue
            if error is not None:
                self._report_drop("upstream_error" if isinstance(error, UpstreamError) else "error")
            finish_task(task, error)
