"""The image-sensitivity drift monitor that every replica shares through Redis.

Each audit record updates, atomically and in the same Lua script that writes the record (see
``service.telemetry.redis_sink``):

- ``grounding:drift:<model>:counts``: running totals (audits, ``run_<c>``, ``skipped_<c>``, and
  the numerators/denominators below);
- ``grounding:drift:<model>:b<res>:<index>``: the same increments in a time bucket of ``res``
  seconds (``index = floor(ts / res)``) with a TTL. A window of W seconds reads the buckets that
  overlap ``(now - W, now]``, so it covers W seconds plus less than one bucket. ``res`` is
  ``max(60 s, W / 60)``: one-minute buckets for the 15 min and 1 h windows, 24-minute buckets
  for 24 h, so an update costs one HINCRBY per field and resolution and a read at most 61
  small hashes per window;
- ``grounding:drift:<model>:cusum``: the one-sided Bernoulli CUSUM on ``flip_shuffled``
  (``audits.science.drift``), updated inside the script so replicas never race; the statistic is
  written with ``%.17g`` so it equals the pure Python recursion bit for bit.

The baseline ``grounding:drift:<model>:baseline`` is frozen either by ``grounding-audit
calibrate`` (first N audits in the stream, an offline report, or a number) or automatically:
while no baseline is set, the first ``drift_min_audits`` audits with a known ``flip_shuffled``
are counted in ``grounding:drift:<model>:warmup`` and their flip rate becomes the baseline
(``source = "auto"``), frozen once by whichever replica sees the count complete (a
set-if-absent script, so every replica freezes the same value). The CUSUM starts from zero at
the next audit; its status is ``insufficient_data`` until it has seen ``drift_min_audits``
audits since the baseline or the last reset. A detector needs ``0 < p0 < 1``: an observed rate
is clamped into ``[0.01, 0.99]`` (the observed value is kept as ``rate``).

Figures per window: IS (mean ``flip_shuffled`` where known), IS_blank (``flip_blank``), HVRR
(``hvr`` over the audits where it is known) and claim rate (``visual_claims > 0`` over all
audits), each with its 95% Wilson interval.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from audits.contracts.records import AuditRecord
from audits.contracts.types import ALL_CONDITIONS, COUNTERFACTUALS
from audits.science.drift import BernoulliCusum, CusumState, DriftStatus, drift_status
from audits.science.stats import paired_bootstrap_diff, wilson_interval
from service.telemetry.prometheus import EXPORTER

log = logging.getLogger(__name__)

T = TypeVar("T")

BUCKETS_PER_WINDOW = 60
MIN_BUCKET_S = 60
MIN_FEEDBACK = 20
"""Online accuracy and VRS are reported once this many requests have feedback."""
P0_MIN, P0_MAX = 0.01, 0.99
PENDING_MAX = 100_000
"""Flips kept between a full warm-up and the baseline freeze (normally one write batch)."""


# --- Redis names ------------------------------------------------------------------------------


def _drift_key(model: str, part: str) -> str:
    return f"grounding:drift:{model}:{part}"


def baseline_key(model: str) -> str:
    return _drift_key(model, "baseline")


def cusum_key(model: str) -> str:
    return _drift_key(model, "cusum")


def warmup_key(model: str) -> str:
    return _drift_key(model, "warmup")


def pending_key(model: str) -> str:
    return _drift_key(model, "pending")


def counts_key(model: str) -> str:
    return _drift_key(model, "counts")


def bucket_key(model: str, resolution_s: int, index: int) -> str:
    return _drift_key(model, f"b{resolution_s}:{index}")


def feedback_key(model: str) -> str:
    return f"grounding:feedback:{model}"


# --- pure parts -------------------------------------------------------------------------------


def bucket_resolution(window_s: int) -> int:
    return max(MIN_BUCKET_S, math.ceil(window_s / BUCKETS_PER_WINDOW))


def bucket_ttls(windows_s: Iterable[int]) -> dict[int, int]:
    """Bucket resolution -> TTL (the longest window read at that resolution plus two buckets)."""
    ttls: dict[int, int] = {}
    for window in windows_s:
        resolution = bucket_resolution(window)
        ttls[resolution] = max(ttls.get(resolution, 0), window + 2 * resolution)
    return ttls


def window_buckets(now: float, window_s: int) -> range:
    """Indices of the buckets that overlap ``(now - window_s, now]``."""
    resolution = bucket_resolution(window_s)
    return range(math.floor((now - window_s) / resolution), math.floor(now / resolution) + 1)


def window_label(window_s: int) -> str:
    if window_s % 3600 == 0:
        return f"{window_s // 3600}h"
    if window_s % 60 == 0:
        return f"{window_s // 60}m"
    return f"{window_s}s"


def record_increments(record: AuditRecord) -> dict[str, int]:
    """Counter increments of one audit (zeros left out): totals, flips, HVR and claims."""
    flags = record.flags
    inc: dict[str, int] = {"audits": 1}
    for condition in record.conditions:
        inc[f"run_{condition.value}"] = 1
    for condition in record.skipped:
        inc[f"skipped_{condition.value}"] = 1
    for condition in COUNTERFACTUALS:
        flip = flags.flips.get(condition)
        if flip is not None:
            inc[f"{condition.value}_n"] = 1
            inc[f"{condition.value}_k"] = int(flip)
    if flags.hvr is not None:
        inc["hvr_n"] = 1
        inc["hvr_k"] = int(flags.hvr)
    inc["claim_k"] = int(len(flags.claim_spans) > 0)
    return {field: value for field, value in inc.items() if value}


def add_counts(total: dict[str, int], more: Mapping[str, int]) -> None:
    for field, value in more.items():
        total[field] = total.get(field, 0) + value


def int_fields(mapping: Mapping[Any, Any]) -> dict[str, int]:
    """A Redis hash of integers (bytes or str) as ``{str: int}``; non-integers are skipped."""
    out: dict[str, int] = {}
    for key, value in mapping.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        try:
            out[name] = int(value)
        except (TypeError, ValueError):
            continue
    return out


def str_fields(mapping: Mapping[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in mapping.items()
    }


class RateFigure(BaseModel):
    """``k / n`` with its 95% Wilson interval; value and interval are null when ``n = 0``."""

    value: float | None
    lo: float | None
    hi: float | None
    n: int
    k: int


def rate_figure(k: int, n: int) -> RateFigure:
    if n <= 0:
        return RateFigure(value=None, lo=None, hi=None, n=0, k=0)
    lo, hi = wilson_interval(k, n)
    return RateFigure(value=k / n, lo=lo, hi=hi, n=n, k=k)


class WindowFigures(BaseModel):
    window_s: int
    audits: int
    IS: RateFigure
    IS_blank: RateFigure
    HVRR: RateFigure
    claim_rate: RateFigure


def window_figures(window_s: int, counts: Mapping[str, int]) -> WindowFigures:
    def get(field: str) -> int:
        return counts.get(field, 0)

    return WindowFigures(
        window_s=window_s,
        audits=get("audits"),
        IS=rate_figure(get("shuffled_k"), get("shuffled_n")),
        IS_blank=rate_figure(get("blank_k"), get("blank_n")),
        HVRR=rate_figure(get("hvr_k"), get("hvr_n")),
        claim_rate=rate_figure(get("claim_k"), get("audits")),
    )


class Counts(BaseModel):
    audits: int
    conditions_run: dict[str, int]
    skipped: dict[str, int]


def counts_from(totals: Mapping[str, int]) -> Counts:
    return Counts(
        audits=totals.get("audits", 0),
        conditions_run={c.value: totals.get(f"run_{c.value}", 0) for c in COUNTERFACTUALS},
        skipped={c.value: totals.get(f"skipped_{c.value}", 0) for c in COUNTERFACTUALS},
    )


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

    @classmethod
    def for_rate(
        cls, rate: float, *, source: str, n: int | None = None, now: float | None = None
    ) -> Baseline:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"a baseline flip rate lies in [0, 1], got {rate}")
        p0 = min(P0_MAX, max(P0_MIN, rate))
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
        }

    @classmethod
    def from_hash(cls, mapping: Mapping[Any, Any]) -> Baseline | None:
        fields = str_fields(mapping)
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
        )


class DriftFigures(BaseModel):
    status: DriftStatus
    statistic: float
    threshold: float | None
    alarm: bool
    alarm_at: int | None
    n: int
    """Audits the CUSUM has seen since the baseline or the last reset."""
    min_audits: int
    warmup_n: int
    """Audits counted towards an automatic baseline (while none is set)."""


def drift_figures(
    state: CusumState, baseline: Baseline | None, min_audits: int, warmup_n: int = 0
) -> DriftFigures:
    return DriftFigures(
        status=drift_status(state, min_audits) if baseline else "insufficient_data",
        statistic=state.statistic,
        threshold=baseline.h if baseline else None,
        alarm=state.alarm,
        alarm_at=state.alarm_at,
        n=state.n,
        min_audits=min_audits,
        warmup_n=warmup_n,
    )


class DiffFigure(BaseModel):
    value: float
    lo: float
    hi: float
    n: int


class FeedbackFigures(BaseModel):
    n: int
    """Requests with a reference answer (each counted once)."""
    min_feedback: int = MIN_FEEDBACK
    accuracy: dict[str, RateFigure] | None
    """Per condition, once ``n >= min_feedback``."""
    vrs: DiffFigure | None
    """Acc_real - Acc_shuffled over requests judged under both, paired bootstrap 95% interval."""


def feedback_figures(counts: Mapping[str, int]) -> FeedbackFigures:
    """From ``grounding:feedback:<model>``: n, ``n_<c>``/``correct_<c>``, ``pair_<real><shuf>``."""
    n = counts.get("n", 0)
    if n < MIN_FEEDBACK:
        return FeedbackFigures(n=n, accuracy=None, vrs=None)
    accuracy = {
        c.value: rate_figure(counts.get(f"correct_{c.value}", 0), counts.get(f"n_{c.value}", 0))
        for c in ALL_CONDITIONS
        if counts.get(f"n_{c.value}", 0) > 0
    }
    real: list[int] = []
    shuffled: list[int] = []
    for r in (0, 1):
        for s in (0, 1):
            times = max(0, counts.get(f"pair_{r}{s}", 0))
            real += [r] * times
            shuffled += [s] * times
    vrs = None
    if real:
        value, lo, hi = paired_bootstrap_diff(real, shuffled, n_boot=2000, seed=0)
        vrs = DiffFigure(value=value, lo=lo, hi=hi, n=len(real))
    return FeedbackFigures(n=n, accuracy=accuracy, vrs=vrs)


class RedisHealth(BaseModel):
    connected: bool
    buffered: int
    overflowed: int
    last_error: str | None = None


class StatsReport(BaseModel):
    """What ``GET /stats`` answers."""

    model: str
    source: str
    """``redis`` (every replica) or ``local`` (this replica's records; Redis unreachable)."""
    as_of: float
    counts: Counts
    windows: dict[str, WindowFigures]
    baseline: Baseline | None
    drift: DriftFigures
    feedback: FeedbackFigures
    audit_queue_depth: int
    redis: RedisHealth | None
    """None when no Redis is configured."""


def local_view(
    records: Sequence[AuditRecord], model: str, windows_s: Sequence[int], now: float
) -> tuple[dict[str, int], dict[int, dict[str, int]]]:
    """(totals, per-window counts) of this replica's in-memory records of ``model``."""
    totals: dict[str, int] = {}
    per_window: dict[int, dict[str, int]] = {w: {} for w in windows_s}
    for record in records:
        if record.model != model:
            continue
        inc = record_increments(record)
        add_counts(totals, inc)
        for window in windows_s:
            if now - window < record.ts <= now:
                add_counts(per_window[window], inc)
    return totals, per_window


class StatsParts(BaseModel):
    totals: dict[str, int]
    per_window: dict[int, dict[str, int]]
    baseline: Baseline | None = None
    state: CusumState = Field(default_factory=CusumState)
    warmup_n: int = 0
    feedback: dict[str, int] = Field(default_factory=dict)


# --- Lua: the drift part of the record write ----------------------------------------------------

CUSUM_LUA = """
-- One CUSUM step (audits.science.drift.BernoulliCusum.update): base = {w_flip, w_stable, h}.
local function cusum_step(base, cusum_key, flip)
  local st = redis.call('HMGET', cusum_key, 'statistic', 'n', 'alarm', 'alarm_at')
  local s = tonumber(st[1] or '0')
  local n = tonumber(st[2] or '0') + 1
  local alarm = st[3] == '1'
  local alarm_at = st[4] or ''
  if flip == '1' then
    s = s + tonumber(base[1])
  else
    s = s + tonumber(base[2])
  end
  if s < 0 then
    s = 0
  end
  if (not alarm) and s >= tonumber(base[3]) then
    alarm = true
    alarm_at = tostring(n)
  end
  local alarm_s = '0'
  if alarm then
    alarm_s = '1'
  end
  local s_text = string.format('%.17g', s)
  redis.call('HSET', cusum_key, 'statistic', s_text, 'n', tostring(n), 'alarm', alarm_s,
    'alarm_at', alarm_at)
  return {'cusum', s_text, tostring(n), alarm_s, alarm_at}
end
"""

DRIFT_LUA = (
    CUSUM_LUA
    + """
-- keys: baseline, cusum, warmup, pending, counts, bucket_1 .. bucket_m
-- args: min_audits, flip_shuffled ('' | '0' | '1'), n_inc, field_1, inc_1, ..., ttl_1 .. ttl_m
local function drift_update(keys, args)
  local n_inc = tonumber(args[3])
  for b = 5, #keys do
    for i = 0, n_inc - 1 do
      redis.call('HINCRBY', keys[b], args[4 + 2 * i], args[5 + 2 * i])
    end
    if b > 5 then
      redis.call('EXPIRE', keys[b], args[4 + 2 * n_inc + (b - 6)])
    end
  end
  local flip = args[2]
  if flip ~= '0' and flip ~= '1' then
    return {'unknown'}
  end
  local base = redis.call('HMGET', keys[1], 'w_flip', 'w_stable', 'h')
  if base[1] then
    return cusum_step(base, keys[2], flip)
  end
  local warm = redis.call('HMGET', keys[3], 'n', 'k')
  local n = tonumber(warm[1] or '0')
  local k = tonumber(warm[2] or '0')
  if n < tonumber(args[1]) then
    n = n + 1
    k = k + tonumber(flip)
    redis.call('HSET', keys[3], 'n', tostring(n), 'k', tostring(k))
  else
    -- the warm-up is full but no replica has frozen the baseline yet: keep the flip for it
    redis.call('RPUSH', keys[4], flip)
    redis.call('LTRIM', keys[4], -PENDING_MAX, -1)
  end
  return {'warmup', tostring(n), tostring(k)}
end
""".replace("PENDING_MAX", str(PENDING_MAX))
)

FREEZE_LUA = (
    CUSUM_LUA
    + """
-- KEYS: baseline, cusum, pending; ARGV: field, value, ... Sets the baseline only if none is
-- set, then runs the CUSUM over the flips that arrived after the warm-up was full.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists'}
end
redis.call('HSET', KEYS[1], unpack(ARGV))
redis.call('DEL', KEYS[2])
local base = redis.call('HMGET', KEYS[1], 'w_flip', 'w_stable', 'h')
local result = {'cusum', '0', '0', '0', ''}
for _, flip in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  result = cusum_step(base, KEYS[2], flip)
end
redis.call('DEL', KEYS[3])
return result
"""
)


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
        args = [str(self.min_audits), _flip_text(record.flip_shuffled), str(len(inc))]
        for field, value in inc.items():
            args += [field, str(value)]
        for resolution, ttl in self.ttls.items():
            keys.append(bucket_key(model, resolution, math.floor(record.ts / resolution)))
            args.append(str(ttl))
        return keys, args

    async def after_update(self, client: Any, model: str, result: Sequence[Any]) -> None:
        """Export the CUSUM gauges; freeze the automatic baseline once the warm-up is full."""
        values = _texts(result)
        if values and values[0] == "warmup" and int(values[1]) >= self.min_audits:
            n, k = int(values[1]), int(values[2])
            baseline = Baseline.for_rate(k / n, source="auto", n=n)
            values = _texts(await freeze_baseline(client, model, baseline))
            if values and values[0] == "cusum":
                log.info("froze the IS baseline of %s at %.3f from %d audits", model, k / n, n)
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
    ) -> dict[str, Any]:
        """The ``GET /stats`` document; never raises.

        From Redis when it answers (every replica's audits); otherwise this replica's in-memory
        records for counts and windows, with the baseline, drift state and feedback of the last
        successful Redis read.
        """
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
                return report.model_dump(mode="json")
            except Exception as exc:
                log.warning("stats from Redis failed (%s); answering from local records", exc)
        return self._local_report(model, redis, records, queue_depth, now).model_dump(mode="json")

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


def _texts(values: Sequence[Any] | None) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values or ()]


def _flip_text(flip: bool | None) -> str:
    return "" if flip is None else str(int(flip))


# --- baseline administration (calibrate CLI, or an endpoint) ----------------------------------


async def freeze_baseline(client: Any, model: str, baseline: Baseline) -> list[Any]:
    """Set the baseline only if none is set (the automatic freeze).

    Returns ``["exists"]`` when another call froze it first, else the CUSUM state after the
    flips that waited for the freeze, as the write script returns it.
    """
    args: list[str] = []
    for field, value in baseline.to_hash().items():
        args += [field, value]
    keys = (baseline_key(model), cusum_key(model), pending_key(model))
    return await client.eval(FREEZE_LUA, len(keys), *keys, *args)


async def set_baseline(client: Any, model: str, baseline: Baseline) -> None:
    """Replace the baseline; the CUSUM restarts from zero against it."""
    pipe = client.pipeline(transaction=True)
    pipe.delete(baseline_key(model), cusum_key(model), warmup_key(model), pending_key(model))
    pipe.hset(baseline_key(model), mapping=baseline.to_hash())
    await pipe.execute()
    EXPORTER.record_drift(model, 0.0, False)


async def reset_cusum(client: Any, model: str) -> None:
    """After an incident is handled: statistic 0, alarm off, same baseline."""
    await client.delete(cusum_key(model))
    EXPORTER.record_drift(model, 0.0, False)


async def clear_baseline(client: Any, model: str) -> None:
    """Forget the baseline: the next ``drift_min_audits`` audits freeze a new one."""
    await client.delete(
        baseline_key(model), cusum_key(model), warmup_key(model), pending_key(model)
    )
    EXPORTER.record_drift(model, 0.0, False)


async def read_drift(client: Any, model: str) -> tuple[Baseline | None, CusumState]:
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(baseline_key(model))
    pipe.hgetall(cusum_key(model))
    baseline, state = await pipe.execute()
    return Baseline.from_hash(baseline), CusumState.from_hash(state)


__all__ = [
    "DRIFT_LUA",
    "MIN_FEEDBACK",
    "Baseline",
    "DriftMonitor",
    "StatsReport",
    "clear_baseline",
    "freeze_baseline",
    "read_drift",
    "reset_cusum",
    "set_baseline",
]
