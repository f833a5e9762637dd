"""The image-sensitivity drift monitor that every replica shares through Redis.

Each audit record updates, atomically and in the same Lua script that writes the record (see
``service.telemetry.redis_sink``):

- ``{grounding}:drift:<model>:counts``: running totals (audits, ``run_<c>``, ``skipped_<c>``, the
  audit ledger ``mirrored``/``dropped``/``overflowed`` (``RedisSink.count``), and
  the numerators/denominators below);
- ``{grounding}:drift:<model>:b<res>:<index>``: the same increments in a time bucket of ``res``
  seconds (``index = floor(ts / res)``) with a TTL. A window of W seconds reads the buckets that
  overlap ``(now - W, now]``, so it covers W seconds plus less than one bucket. ``res`` is
  ``max(60 s, W / 60)``: one-minute buckets for the 15 min and 1 h windows, 24-minute buckets
  for 24 h, so an update costs one HINCRBY per field and resolution and a read at most 61
  small hashes per window;
- ``{grounding}:drift:<model>:cusum``: the case-mix-aware (risk-adjusted) one-sided Bernoulli
  CUSUM on ``flip_shuffled`` (``audits.science.stratified_drift``): each audit is compared with
  the baseline of its stratum (question kind x modality), updated inside the script so replicas
  never race; the statistic is written with ``%.17g`` so it equals the pure Python recursion bit
  for bit.

The baseline ``{grounding}:drift:<model>:baseline`` is frozen either by ``grounding-audit
calibrate`` (first N audits in the stream, an offline report, or a number) or automatically:
while no baseline is set, the first ``drift_min_audits`` audits with a known ``flip_shuffled``
are counted in ``{grounding}:drift:<model>:warmup`` (in total and per stratum) and become the
baseline (``source = "auto"``: per-stratum rates for strata with enough audits, the pooled rate
for the rest, ``Baseline.for_counts``), frozen once by whichever replica sees the count complete (a
set-if-absent script, so every replica freezes the same value). The CUSUM starts from zero at
the next audit; its status is ``insufficient_data`` until it has seen ``drift_min_audits``
audits since the baseline or the last reset. A detector needs ``0 < p0 < 1``: an observed rate
is clamped into ``[0.01, 0.99]`` (the observed value is kept as ``rate``).

Figures per window: IS (mean ``flip_shuffled`` where known), IS_blank (``flip_blank``), HVRR
(``hvr`` over the audits where it is known) and claim rate (``visual_claims > 0`` over all
audits), each with its 95% Wilson interval.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from audits.contracts.records import AuditRecord
from audits.science.drift import CusumState
from audits.science.stratified_drift import stratum_of
from service.telemetry.baseline_admin import freeze_baseline
from service.telemetry.counting import (
    add_counts,
    bucket_resolution,
    bucket_ttls,
    int_fields,
    record_increments,
    window_buckets,
    window_label,
)
from service.telemetry.drift.baseline import Baseline
from service.telemetry.drift.figures import drift_figures
from service.telemetry.ledger import audit_ledger
from service.telemetry.prometheus import EXPORTER
from service.telemetry.redis_keys import (
    baseline_key,
    bucket_key,
    counts_key,
    cusum_key,
    feedback_key,
    pending_key,
    warmup_key,
)
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
    """Runs ``fn(client)`` on the loop that owns the Redis client (``RedisSink.call``)."""

    async def call(self, fn: Callable[[Any], Awaitable[T]], timeout: float = ...) -> T: ...

    def health(self) -> RedisHealth: ...


class DriftMonitor:
    """Shared rolling figures and CUSUM state; one instance per process, any number of models."""

    def __init__(self, *, windows_s: Sequence[int], min_audits: int) -> None:
        if not windows_s or any(w <= 0 for w in windows_s):
            raise ValueError(f"drift windows must be positive seconds, got {windows_s}")
        self.windows_s = sorted(set(windows_s))
        self.min_audits = min_audits
        self.ttls = bucket_ttls(self.windows_s)
        self._last: dict[str, StatsReport] = {}

    # -- write side (called by the Redis sink) ---------------------------------------------------
    def update_plan(self, record: AuditRecord) -> tuple[list[str], list[str]]:
        """KEYS and ARGV of ``drift_update`` for one record."""
        model = record.model
        keys = [
            baseline_key(model),
            cusum_key(model),
            warmup_key(model),
            pending_key(model),
            counts_key(model),
        ]
        inc = record_increments(record)
        stratum = stratum_of(record.question_kind, record.modality)
        args = [str(self.min_audits), _flip_text(record.flip_shuffled), stratum, str(len(inc))]
        for field, value in inc.items():
            args += [field, str(value)]
        for resolution, ttl in self.ttls.items():
            keys.append(bucket_key(model, resolution, math.floor(record.ts / resolution)))
            args.append(str(ttl))
        return keys, args

    async def after_update(self, client: Any, record: AuditRecord, result: Sequence[Any]) -> None:
        """Export the CUSUM gauges and the record's risk-adjusted counts; freeze the automatic
        baseline once the warm-up is full."""
        model = record.model
        values = _texts(result)
        if len(values) > 5 and values[0] == "cusum" and values[5]:
            EXPORTER.record_risk_adjusted(
                model, record.modality, record.flip_shuffled is True, float(values[5])
            )
        if values and values[0] == "warmup" and int(values[1]) >= self.min_audits:
            n, k = int(values[1]), int(values[2])
            counts = warmup_strata(await client.hgetall(warmup_key(model))) or {"": (n, k)}
            baseline = await asyncio.to_thread(Baseline.for_counts, counts, source="auto")
            values = _texts(await freeze_baseline(client, model, baseline))
            if values and values[0] == "cusum":
                log.info(
                    "froze the IS baseline of %s at %.3f from %d audits (%d strata of their own)",
                    model,
                    k / n,
                    n,
                    len(baseline.strata),
                )
        if values and values[0] == "cusum":
            EXPORTER.record_drift(model, float(values[1]), values[3] == "1")

    # -- read side -----------------------------------------------------------------------------
    async def read(self, client: Any, model: str, now: float) -> StatsParts:
        pipe = client.pipeline(transaction=False)
        for key in (counts_key(model), baseline_key(model), cusum_key(model), warmup_key(model)):
            pipe.hgetall(key)
        pipe.hgetall(feedback_key(model))
        bucket_names: list[str] = []
        for window in self.windows_s:
            resolution = bucket_resolution(window)
            for index in window_buckets(now, window):
                name = bucket_key(model, resolution, index)
                if name not in bucket_names:
                    bucket_names.append(name)
                    pipe.hgetall(name)
        counts, baseline, cusum, warmup, feedback, *buckets = await pipe.execute()
        by_name = {name: int_fields(raw) for name, raw in zip(bucket_names, buckets, strict=True)}
        per_window: dict[int, dict[str, int]] = {}
        for window in self.windows_s:
            resolution = bucket_resolution(window)
            total: dict[str, int] = {}
            for index in window_buckets(now, window):
                add_counts(total, by_name[bucket_key(model, resolution, index)])
            per_window[window] = total
        return StatsParts(
            totals=int_fields(counts),
            per_window=per_window,
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


def warmup_strata(fields: dict[str, str]) -> dict[str, tuple[int, int]]:
    """(audits, flips) per stratum from the warm-up hash's ``n:<stratum>``/``k:<stratum>``."""
    return {
        name[2:]: (int(value), int(fields.get(f"k:{name[2:]}", "0")))
        for name, value in fields.items()
        if name.startswith("n:") and int(value) > 0
    }


def _texts(values: Sequence[Any] | None) -> list[str]:
    return [str(v) for v in values or ()]


def _flip_text(flip: bool | None) -> str:
    return "" if flip is None else str(int(flip))
