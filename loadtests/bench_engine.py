"""Closed-loop load through the real InferenceEngine and runtime, with mirrored audits (no HTTP).

Each producer thread is one client: it sends a production request, waits for the answer, queues
the audit when the request is sampled (as the service does after the response), then thinks for
an exponentially distributed time. A fresh engine serves each phase; the model is shared.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from PIL import Image
from pydantic import BaseModel, Field

from audits.contracts.backend import VLMBackend
from audits.contracts.types import COUNTERFACTUALS
from audits.science.audit_steps import AuditMode, ItemAuditRun, ItemAuditSpec
from loadtests.bench_validity import bootstrap_percentile_interval
from loadtests.payloads import QUESTIONS, Question, ScanImage
from loadtests.timeline import ProductionInput, TimedBackend, Timeline, timeline
from loadtests.timing import percentile
from service.engine.audit_queue import AuditTask
from service.engine.scheduler import InferenceEngine
from service.engine.shuffle_pool import ShufflePool
from service.engine.stats import SchedulerStats
from service.identity import sample_decision


class LoadConfig(BaseModel):
    name: str
    mirror_rate: float
    producers: int
    think_s: float
    """Mean think time between a reply and the next request; 0 means back to back."""
    duration_s: float
    warmup_s: float = 1.0
    audit_mode: AuditMode = "both"
    max_batch_size: int = 8
    audit_queue_size: int = 256
    seed: int = 0


class LoadResult(BaseModel):
    name: str
    mirror_rate: float
    producers: int
    think_s: float
    window_s: float
    completed: int
    p50_ms: float
    p99_ms: float
    p99_interval_ms: tuple[float, float] | None = None
    """95% bootstrap interval of the p99 (bench_validity.bootstrap_percentile_interval)."""
    mean_ms: float | None = None
    throughput_rps: float
    utilization: float | None
    """Share of the window the model was busy (production and audits); None over HTTP."""
    audits_submitted: int
    audits_completed: int
    audits_dropped: int
    """Dropped from a full queue (reason ``queue_full``) during the phase."""
    audits_left: int
    """Still queued when the phase ended."""
    audit_shed_share: float
    production_busy: float | None = None
    """Share of the window the model ran production batches (engine runs only)."""
    audit_busy: float | None = None
    audit_step_p50_ms: float | None = None
    audit_step_p99_ms: float | None = None
    arrived_during_audit: float | None = None
    """Share of production requests that arrived while an audit step held the model."""
    audit_wait_mean_ms: float | None = None
    """Mean rest of the audit step (slice) such a request had to wait for."""
    arrived_during_audit_count: int | None = None
    """How many production requests arrived while an audit slice held the model."""
    audit_wait_p99_ms: float | None = None
    audit_slice_p50_ms: float | None = None
    """The audit's own work between production calls served inside its steps."""
    audit_slice_p99_ms: float | None = None
    latencies_ms: list[float] = Field(default_factory=list, exclude=True)
    """Every latency behind the percentiles (for ratio intervals; not written to the JSON)."""


@dataclass
class PhaseSample:
    """One timed window of one phase; several windows (rounds) make one LoadResult."""

    latencies_ms: list[float]
    finished: int
    window_s: float
    utilization: float | None = None
    audits: Counter[str] = field(default_factory=Counter)
    timeline: Timeline | None = None


def summarize(config: LoadConfig, samples: list[PhaseSample]) -> LoadResult:
    latencies = [value for sample in samples for value in sample.latencies_ms]
    window = sum(sample.window_s for sample in samples)
    audits: Counter[str] = Counter()
    for sample in samples:
        audits.update(sample.audits)
    busy = [s.utilization * s.window_s for s in samples if s.utilization is not None]
    submitted, dropped = audits["submitted"], audits["dropped"]
    return LoadResult(
        **_timeline_figures([s.timeline for s in samples if s.timeline], window),
        name=config.name,
        mirror_rate=config.mirror_rate,
        producers=config.producers,
        think_s=config.think_s,
        window_s=window,
        completed=len(latencies),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        p99_interval_ms=bootstrap_percentile_interval(latencies, 99),
        mean_ms=sum(latencies) / len(latencies) if latencies else None,
        latencies_ms=latencies,
        throughput_rps=sum(sample.finished for sample in samples) / window,
        utilization=sum(busy) / window if len(busy) == len(samples) else None,
        audits_submitted=submitted,
        audits_completed=audits["completed"],
        audits_dropped=dropped,
        audits_left=audits["left"],
        audit_shed_share=dropped / submitted if submitted else 0.0,
    )


def _timeline_figures(timelines: list[Timeline], window_s: float) -> dict[str, float | int | None]:
    if not timelines:
        return {}
    steps = [value for t in timelines for value in t.audit_steps_ms]
    slices = [value for t in timelines for value in t.audit_slices_ms]
    waits = [value for t in timelines for value in t.blocked_waits_ms]
    arrivals = sum(t.arrivals for t in timelines)
    return {
        "production_busy": sum(t.production_busy_s for t in timelines) / window_s,
        "audit_busy": sum(t.audit_busy_s for t in timelines) / window_s,
        "audit_step_p50_ms": percentile(steps, 50) if steps else None,
        "audit_step_p99_ms": percentile(steps, 99) if steps else None,
        "audit_slice_p50_ms": percentile(slices, 50) if slices else None,
        "audit_slice_p99_ms": percentile(slices, 99) if slices else None,
        "arrived_during_audit": len(waits) / arrivals if arrivals else None,
        "arrived_during_audit_count": len(waits),
        "audit_wait_mean_ms": sum(waits) / len(waits) if waits else None,
        "audit_wait_p99_ms": percentile(waits, 99) if waits else None,
    }


@dataclass(frozen=True)
class _Request:
    scan: ScanImage
    question: Question
    output: str


@dataclass
class _Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[tuple[float, float]] = field(default_factory=list)
    audits: Counter[str] = field(default_factory=Counter)

    def add(self, key: str, count: int = 1) -> None:
        with self.lock:
            self.audits[key] += count

    def add_drops(self, stats: SchedulerStats) -> None:
        for reason, count in stats.audits_dropped.items():
            self.add("dropped" if reason == "queue_full" else reason, count)


class _Utilization:
    """Busy share of the engine over a window, from engine.utilization() read at both ends."""

    def __init__(self, engine: InferenceEngine, created: float) -> None:
        self.engine, self.created = engine, created
        self.start: tuple[float, float] | None = None

    def _busy(self) -> tuple[float, float]:
        elapsed = time.monotonic() - self.created
        return self.engine.utilization() * elapsed, elapsed

    def mark(self) -> None:
        self.start = self._busy()

    def since_mark(self) -> float:
        busy, elapsed = self._busy()
        busy0, elapsed0 = self.start or (0.0, 0.0)
        if elapsed <= elapsed0:
            return float("nan")
        # a step is counted when it ends, so one straddling the window's start can push past 1
        return min(1.0, (busy - busy0) / (elapsed - elapsed0))


def window_sample(
    spans: list[tuple[float, float]], measure_from: float, end: float
) -> tuple[list[float], int]:
    """Latencies (ms) of requests sent and answered inside the window, and answers in it."""
    latencies = [(t1 - t0) * 1000 for t0, t1 in spans if t0 >= measure_from and t1 <= end]
    finished = sum(1 for _, t1 in spans if measure_from <= t1 <= end)
    return latencies, finished


def run_phase(backend: VLMBackend, scans: list[ScanImage], config: LoadConfig) -> PhaseSample:
    tally = _Tally()
    timed = TimedBackend(backend)
    created = time.monotonic()
    engine = InferenceEngine(
        timed,
        max_batch_size=config.max_batch_size,
        audit_queue_size=config.audit_queue_size,
        on_stats=tally.add_drops,
    )
    utilization = _Utilization(engine, created)
    pool = ShufflePool(256, seed=config.seed)
    engine.start()
    begin = time.perf_counter()
    measure_from = begin + config.warmup_s
    end = measure_from + config.duration_s
    threads = [
        threading.Thread(
            target=_producer,
            args=(index, engine, pool, scans, config, tally, end),
            name=f"producer-{index}",
            daemon=True,
        )
        for index in range(config.producers)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    utilization.mark()
    time.sleep(max(0.0, end - time.perf_counter()))
    busy_share = utilization.since_mark()
    for thread in threads:
        thread.join()
    tally.audits["left"] = engine.stop(grace_s=0.0)
    latencies, finished = window_sample(tally.latencies, measure_from, end)
    arrivals = [started for started, _ in tally.latencies]
    seen = timeline(timed.calls, arrivals, measure_from, end)
    return PhaseSample(latencies, finished, config.duration_s, busy_share, tally.audits, seen)


def _producer(
    index: int,
    engine: InferenceEngine,
    pool: ShufflePool,
    scans: list[ScanImage],
    config: LoadConfig,
    tally: _Tally,
    end: float,
) -> None:
    rng = random.Random(config.seed * 1000 + index)
    sent = 0
    while time.perf_counter() < end:
        scan, question = rng.choice(scans), rng.choice(QUESTIONS)
        started = time.perf_counter()
        output = engine.submit_production(ProductionInput(question.text, scan.image)).result().text
        finished = time.perf_counter()
        with tally.lock:
            tally.latencies.append((started, finished))
        request_id = f"{config.name}-{index}-{sent}"
        sent += 1
        shuffled = pool.draw(exclude_id=scan.name)
        pool.add(scan.name, scan.image)
        if sample_decision(request_id, config.mirror_rate):
            _queue_audit(engine, _Request(scan, question, output), shuffled, config, tally)
        if config.think_s > 0:
            pause = rng.expovariate(1.0 / config.think_s)
            time.sleep(max(0.0, min(pause, end - time.perf_counter())))


def _queue_audit(
    engine: InferenceEngine,
    request: _Request,
    shuffled: tuple[str, Image.Image] | None,
    config: LoadConfig,
    tally: _Tally,
) -> None:
    spec = ItemAuditSpec(
        question=request.question.text,
        image=request.scan.image,
        conditions=COUNTERFACTUALS,
        mode=config.audit_mode,
        options=request.question.options,
        shuffled_image=shuffled[1] if shuffled else None,
        real_output=request.output,
    )
    run = ItemAuditRun(spec)

    def on_done(error: BaseException | None) -> None:
        if error is None:
            tally.add("completed")

    engine.submit_audit(AuditTask(steps=run.steps(), on_done=on_done))
    tally.add("submitted")
