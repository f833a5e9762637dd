"""``GET /stats``: the figures of every replica's audits from Redis, or of this replica's records
when Redis does not answer.

Figures per window: IS (mean ``flip_shuffled`` where known), IS_blank (``flip_blank``), HVRR
(``hvr`` over the audits where it is known) and claim rate (``visual_claims > 0`` over all
audits), each with its 95% Wilson interval; the drift state against the baseline; online
accuracy from feedback; the audit ledger; Redis health.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from audits.contracts.audit_record import AuditRecord
from audits.science.drift.cusum import CusumState
from service.telemetry.counting import int_fields, window_label
from service.telemetry.drift.baseline import Baseline
from service.telemetry.drift.figures import drift_figures
from service.telemetry.ledger import audit_ledger
from service.telemetry.prometheus import EXPORTER
from service.telemetry.redis_keys import (
    baseline_key,
    counts_key,
    cusum_key,
    feedback_key,
    warmup_key,
)
from service.telemetry.rolling_counts import RollingCounts
from service.telemetry.stats_figures import (
    RedisHealth,
    StatsParts,
    StatsReport,
    counts_from,
    feedback_figures,
    local_view,
    window_figures,
)
from service.telemetry.verdict import LEGEND, StatsView, summary_view, verdict_of

log = logging.getLogger(__name__)

T = TypeVar("T")


class RedisRunner(Protocol):
    """Runs ``fn(client)`` on the loop that owns the Redis client (``RedisTelemetry.call``)."""

    async def call(self, fn: Callable[[Any], Awaitable[T]], timeout: float = ...) -> T: ...

    def health(self) -> RedisHealth: ...


class StatsReader:
    """Reads and assembles ``/stats``; keeps the last Redis answer per model for the fallback."""

    def __init__(self, *, windows_s: Sequence[int], min_audits: int) -> None:
        self.counts = RollingCounts(windows_s)
        self.windows_s = self.counts.windows_s
        self.min_audits = min_audits
        self._last: dict[str, StatsReport] = {}

    async def read(self, client: Any, model: str, now: float) -> StatsParts:
        """Totals, windows, baseline, CUSUM, warm-up and feedback of ``model``, one pipeline."""
        pipe = client.pipeline(transaction=False)
        for key in (counts_key(model), baseline_key(model), cusum_key(model), warmup_key(model)):
            pipe.hgetall(key)
        pipe.hgetall(feedback_key(model))
        bucket_names = self.counts.bucket_keys(model, now)
        for name in bucket_names:
            pipe.hgetall(name)
        counts, baseline, cusum, warmup, feedback, *buckets = await pipe.execute()
        by_name = {name: int_fields(raw) for name, raw in zip(bucket_names, buckets, strict=True)}
        return StatsParts(
            totals=int_fields(counts),
            per_window=self.counts.per_window(model, now, by_name),
            baseline=Baseline.from_hash(baseline),
            state=CusumState.from_hash(cusum),
            warmup_n=int_fields(warmup).get("n", 0),
            feedback=int_fields(feedback),
        )

    def report(
        self,
        model: str,
        parts: StatsParts,
        *,
        source: str,
        now: float,
        queue_depth: int,
        health: RedisHealth | None,
    ) -> StatsReport:
        return StatsReport(
            model=model,
            source=source,
            as_of=now,
            counts=counts_from(parts.totals),
            windows={
                window_label(w): window_figures(w, parts.per_window.get(w, {}))
                for w in self.windows_s
            },
            baseline=parts.baseline,
            drift=drift_figures(parts.state, parts.baseline, self.min_audits, parts.warmup_n),
            feedback=feedback_figures(parts.feedback),
            audit_queue_depth=queue_depth,
            ledger=audit_ledger(parts.totals) if source == "redis" else None,
            redis=health,
        )

    async def stats(
        self,
        model: str,
        *,
        redis: RedisRunner | None,
        records: Sequence[AuditRecord],
        queue_depth: int,
        timeout_s: float = 2.0,
        sample_rate: float | None = None,
        view: StatsView = "full",
    ) -> dict[str, Any]:
        """The ``GET /stats`` document; never raises. It opens with the verdict (``healthy``,
        ``degraded``, ``insufficient_data`` and why); ``view="summary"`` is the verdict and
        each window's headline figures only.

        From Redis when it answers (every replica's audits); otherwise this replica's in-memory
        records for counts and windows, with the baseline, drift state and feedback of the last
        successful Redis read.
        """
        report = await self._stats_report(model, redis, records, queue_depth, timeout_s)
        verdict = verdict_of(report, sample_rate)
        if view == "summary":
            return summary_view(report, verdict)
        return {
            "verdict": verdict.model_dump(),
            **report.model_dump(mode="json"),
            "legend": LEGEND,
        }

    async def _stats_report(
        self,
        model: str,
        redis: RedisRunner | None,
        records: Sequence[AuditRecord],
        queue_depth: int,
        timeout_s: float,
    ) -> StatsReport:
        now = time.time()
        if redis is not None:
            try:
                parts = await redis.call(lambda client: self.read(client, model, now), timeout_s)
                report = self.report(
                    model,
                    parts,
                    source="redis",
                    now=now,
                    queue_depth=queue_depth,
                    health=redis.health(),
                )
                EXPORTER.record_drift(model, report.drift.statistic, report.drift.alarm)
                self._last[model] = report
                return report
            except Exception as exc:
                log.warning("stats from Redis failed (%s); answering from local records", exc)
        return self._local_report(model, redis, records, queue_depth, now)

    def _local_report(
        self,
        model: str,
        redis: RedisRunner | None,
        records: Sequence[AuditRecord],
        queue_depth: int,
        now: float,
    ) -> StatsReport:
        totals, per_window = local_view(records, model, self.windows_s, now)
        last = self._last.get(model)
        parts = StatsParts(totals=totals, per_window=per_window)
        health = None
        if redis is not None:
            try:
                health = redis.health()
            except Exception:
                health = RedisHealth(connected=False, buffered=0, overflowed=0)
            health = health.model_copy(update={"connected": False})
        report = self.report(
            model, parts, source="local", now=now, queue_depth=queue_depth, health=health
        )
        if last is not None:
            report = report.model_copy(
                update={"baseline": last.baseline, "drift": last.drift, "feedback": last.feedback}
            )
        return report
