"""The service's behaviour without the web framework: predict, mirror, audit on demand."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from PIL import Image

from audits.contracts.backend import Generation, VLMBackend, VLMInput
from audits.contracts.http import AuditReport
from audits.contracts.types import AuditMode, Condition
from audits.science.answer_extraction import final_answer, question_kind
from audits.science.audit_steps import ItemAuditResult, ItemAuditRun, ItemAuditSpec
from service.audit_results import build_report, mirror_record
from service.engine.audit_queue import AuditTask
from service.engine.completion import CompletionWorker
from service.engine.scheduler import InferenceEngine
from service.engine.shuffle_pool import ShufflePool, fit_pixels, image_nbytes
from service.engine.stats import SchedulerStats
from service.engine.upstream import UpstreamEngine
from service.errors import InvalidInput, ModelTimedOut, NotFound
from service.http.interfaces import AuditDecision, PredictResponse
from service.identity import pixels_id, sample_decision
from service.requests import ProductionRequest, RequestReader
from service.settings import Settings
from service.startup import start_serving
from service.telemetry.prometheus import EXPORTER
from service.telemetry.redis_store import RedisRecordStore
from service.telemetry.redis_telemetry import RedisTelemetry
from service.telemetry.sinks import AuditSink, FanOut, LogSink, MemorySink, PrometheusSink
from service.telemetry.stats_reader import StatsReader
from service.telemetry.store import MemoryRecordStore, RecordStore
from service.telemetry.verdict import StatsView

log = logging.getLogger(__name__)
T = TypeVar("T")


class GroundingCore:
    def __init__(
        self,
        settings: Settings,
        backend: VLMBackend | None = None,
        extra_sinks: Sequence[AuditSink] = (),
    ) -> None:
        self.settings = settings
        self.redis: RedisTelemetry | None = None
        serving = start_serving(settings, backend, self._scheduler_stats)
        self.backend: VLMBackend = serving.backend
        self.engine: InferenceEngine | UpstreamEngine = serving.engine
        self.audit_mode: AuditMode = serving.audit_mode
        self.model = settings.model.name or self.backend.model_name
        self.requests = RequestReader(settings)
        self.build_request = self.requests.build
        """Checks and decodes one request into a ``ProductionRequest``."""
        self.limits = self.requests.limits
        self.model_pixels = self.backend.capabilities.max_image_pixels
        """Pixels of the largest image the model consumes: pooled and queued images are kept at
        most at this size, never at the upload's."""
        self.pool = ShufflePool(
            settings.audit.shuffle_pool_size,
            max_bytes=settings.audit.shuffle_pool_bytes,
            max_pixels=self.model_pixels,
        )
        self._warm_pool(serving.warm_images)
        self.memory = MemorySink()
        self.stats_reader = StatsReader(
            windows_s=settings.audit.drift_windows_s, min_audits=settings.audit.drift_min_audits
        )
        secret = settings.security.hmac_key
        self.store: RecordStore = MemoryRecordStore(self.memory, secret)
        sinks: list[AuditSink] = [PrometheusSink(), LogSink(), self.memory]
        if settings.redis.url:  # never connects here: a Redis that is down only fills the buffer
            self.redis = RedisTelemetry.from_settings(settings)
            sinks.append(self.redis.sink)
            self.store = RedisRecordStore(self.redis, secret, fallback=self.store)
        self.sinks = FanOut([*sinks, *extra_sinks])
        self.completions = CompletionWorker(
            capacity=max(64, settings.audit.queue_size), on_dropped=self._count_drop
        )
        EXPORTER.start_model(
            self.model,
            modes=(self.audit_mode,),
            conditions=[c.value for c in settings.audit.conditions if c != Condition.REAL],
        )
        self.engine.start()

    def _count_drop(self, reason: str) -> None:
        EXPORTER.audit_dropped(self.model, reason)
        self._ledger("dropped")

    def _scheduler_stats(self, stats: SchedulerStats) -> None:
        EXPORTER.record_scheduler(self.model, stats)
        if stats.audits_dropped:
            self._ledger("dropped", sum(stats.audits_dropped.values()))

    def _ledger(self, field: str, amount: int = 1) -> None:
        """The audit ledger in Redis: what a worker that dies cannot report itself."""
        if self.redis is not None:
            self.redis.ledger.count(self.model, field, amount)

    # -- production --------------------------------------------------------------------------
    async def predict(self, request: ProductionRequest) -> PredictResponse:
        response, _ = await self.answer(request)
        return response

    async def answer(self, request: ProductionRequest) -> tuple[PredictResponse, Generation]:
        """The production answer and its token counts."""
        generation = await self._in_time(
            self.engine.generate_detailed(VLMInput(request.question, request.image), request.params)
        )
        raw = generation.text
        EXPORTER.request_answered(self.model)
        if request.image is None:
            sampled, reason = False, "no_image"
        elif request.audit is not None:
            sampled, reason = request.audit, "forced" if request.audit else "disabled"
        else:
            sampled = sample_decision(request.request_id, self.settings.audit.sample_rate)
            reason = "sampled" if sampled else "not_sampled"
        response = PredictResponse(
            request_id=request.request_id,
            model=self.model,
            answer=final_answer(
                raw,
                request.options,
                kind=question_kind(request.question, request.options),
                question=request.question,
            ),
            raw_output=raw,
            audit=AuditDecision(sampled=sampled, queued=sampled, reason=reason),
        )
        return response, generation

    def after_response(self, request: ProductionRequest, response: PredictResponse) -> None:
        """Runs after the production answer is sent: pool the image, queue the audit."""
        if request.image is None or request.image_id is None:
            return
        try:
            fitted = fit_pixels(request.image, self.model_pixels)  # resized once, pool and queue
            shuffled = self.pool.draw(exclude_id=request.image_id)
            self.pool.add(request.image_id, fitted)
            if response.audit.sampled:
                self._queue_mirror(request, fitted, response.raw_output, shuffled)
        except Exception:  # monitoring never fails production
            log.exception("could not queue the audit of %s", request.request_id)
            self._count_drop("error")

    def _queue_mirror(
        self,
        request: ProductionRequest,
        image: Image.Image,
        raw_output: str,
        shuffled: tuple[str, Image.Image] | None,
    ) -> None:
        """Queue the audit with the image at the size the model consumes; the queued task keeps
        no reference to the full-size upload (the record needs only the request's metadata)."""
        EXPORTER.request_mirrored(self.model)
        self._ledger("mirrored")
        spec = ItemAuditSpec(
            question=request.question,
            image=fit_pixels(image, self.model_pixels),
            conditions=tuple(self.settings.audit.conditions),
            mode=self.audit_mode,
            options=request.options,
            shuffled_image=shuffled[1] if shuffled else None,
            shuffled_skip_reason="the shuffle pool has no other image yet",
            real_output=raw_output if request.greedy_at_default_length else None,
        )
        run = ItemAuditRun(spec)
        metadata = replace(request, image=None)

        def on_done(error: BaseException | None) -> None:
            if error is None:  # on the model thread: hand the rest to the completion worker
                self.completions.submit(lambda: self._record(metadata, run.result()))

        task = AuditTask(steps=run.steps(), on_done=on_done, nbytes=pinned_bytes(run))
        self.engine.submit_audit(task)

    def _record(self, request: ProductionRequest, result: ItemAuditResult) -> None:
        secret = self.settings.security.hmac_key
        self.sinks.emit(
            mirror_record(
                request,
                result,
                model=self.model,
                mode=self.audit_mode,
                secret=secret,
                retain_text=self.settings.security.retain_text,
            )
        )

    # -- on-demand audit ---------------------------------------------------------------------
    async def audit(
        self,
        request: ProductionRequest,
        *,
        mode: AuditMode,
        conditions: Sequence[Condition] | None,
        reference: str | None,
        shuffled_image: Image.Image | None,
    ) -> AuditReport:
        if mode != "generate" and not self.engine.audit_backend.capabilities.score:
            raise InvalidInput(
                f"mode {mode} needs prompt log-probabilities, which the upstream server does not "
                "return; use mode=generate",
            )
        if reference is not None and len(reference) > self.settings.limits.max_answer_chars:
            raise InvalidInput(
                f"the reference answer is longer than {self.settings.limits.max_answer_chars} chars"
            )
        wanted = tuple(c for c in (conditions or self.settings.audit.conditions) if c != "real")
        if shuffled_image is None and Condition.SHUFFLED in wanted:
            drawn = self.pool.draw(exclude_id=request.image_id)
            shuffled_image = drawn[1] if drawn else None
        spec = ItemAuditSpec(
            question=request.question,
            image=request.image,
            conditions=wanted,
            mode=mode,
            options=request.options,
            shuffled_image=shuffled_image,
            shuffled_skip_reason="no shuffled image: the pool is empty and none was supplied",
            reference=reference,
        )
        run = ItemAuditRun(spec)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def on_done(error: BaseException | None) -> None:
            def settle() -> None:
                if done.done():
                    return
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

            loop.call_soon_threadsafe(settle)

        self.engine.submit_interactive(AuditTask(steps=run.steps(), on_done=on_done))
        await self._in_time(done)
        return build_report(request, self.model, mode, run.result())

    async def _in_time(self, work: Awaitable[T]) -> T:
        """``work``'s result, or ``ModelTimedOut`` after the request timeout."""
        try:
            return await asyncio.wait_for(work, timeout=self.settings.limits.request_timeout_s)
        except TimeoutError:
            raise ModelTimedOut("the model did not answer in time; retry later") from None

    # -- stored records ----------------------------------------------------------------------
    async def stored_record(self, request_id: str) -> dict[str, str]:
        """The stored audit record of a mirrored request (its Redis fields)."""
        record = await self.store.get(request_id)
        if record is None:
            raise NotFound(f"no audit record for request {request_id} (or expired)")
        return record

    async def add_feedback(self, request_id: str, reference: str) -> dict[Condition, bool]:
        """Attach a reference answer to a past request: whether each condition's answer was
        correct."""
        limit = self.settings.limits.max_answer_chars
        if len(reference) > limit:
            raise InvalidInput(f"reference_answer is longer than {limit} characters")
        correct = await self.store.add_feedback(request_id, reference)
        if correct is None:
            raise NotFound(f"no audit record for request {request_id}")
        return correct

    def _warm_pool(self, paths: Sequence[Path]) -> None:
        """Fill the shuffle pool from image files; one that cannot be read is logged and left
        out (a production request never depends on the pool)."""
        from audits.data.images import load_image

        secret = self.settings.security.hmac_key
        added = 0
        for path in paths:
            try:
                image = load_image(path)
            except Exception as exc:  # unreadable warm-up image: skip it, say so
                log.warning("shuffle pool warm-up: %s left out (%s)", path.name, exc)
                continue
            self.pool.add(pixels_id(image, secret), fit_pixels(image, self.model_pixels))
            added += 1
        if added:
            log.info("shuffle pool: %d images from the warm-up set", added)

    async def stats(self, view: StatsView = "full") -> dict[str, object]:
        return await self.stats_reader.stats(
            self.model,
            redis=self.redis,
            records=self.memory.records,
            queue_depth=self.engine.audit_queue_depth,
            sample_rate=self.settings.audit.sample_rate,
            view=view,
        )

    def shutdown(self) -> int:
        """Drain the engine (queued audits finish within the grace period or count as dropped),
        then write what the Redis sink still buffers."""
        dropped = self.engine.stop(self.settings.server.shutdown_grace_s)
        dropped += self.completions.stop(timeout=5.0)
        if self.redis is not None:
            self.redis.close(timeout=5.0)
        return dropped


def pinned_bytes(run: ItemAuditRun) -> int:
    """Bytes of the distinct images a queued audit holds (real, blank, shuffled)."""
    images = {id(item.image): item.image for item in run.inputs.values() if item.image is not None}
    return sum(image_nbytes(image) for image in images.values())
