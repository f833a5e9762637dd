"""The same closed-loop load through a real `bentoml serve` (optional: `bench --http`).

Mirroring is chosen per request with the ``audit`` field (true when the request id is sampled
at the phase's rate, else false), so one server serves every phase. Audits shed come from the
service's own Prometheus counters.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from loadtests.bench_engine import LoadConfig, PhaseSample, window_sample
from loadtests.payloads import QUESTIONS, ScanImage
from loadtests.processes import RedisProcess, ServeProcess
from service.identity import sample_decision


@contextmanager
def served(
    model_dir: Path, env: Mapping[str, str], log_path: Path, timeout_s: float = 240
) -> Iterator[str]:
    """`bentoml serve` of the service and its own redis-server, on free loopback ports, logging
    to log_path; yields the service's base URL."""
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        redis = RedisProcess(Path(tmp) / "redis")
        server = ServeProcess(
            {**env, "GROUNDING_MODEL_PATH": str(model_dir), "GROUNDING_REDIS_URL": redis.url},
            Path(tmp) / "serve",
            log_path=log_path,
        )
        try:
            server.wait_ready(timeout_s)
            yield server.url
        finally:
            server.stop()
            redis.stop()


def audit_counters(url: str) -> Counter[str]:
    """Mirrored audits, completed audits and audits dropped for a full queue, so far."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "grounding_mirrored_total":
                counts["submitted"] += int(sample.value)
            elif sample.name == "grounding_audits_total":
                counts["completed"] += int(sample.value)
            elif (
                sample.name == "grounding_audits_dropped_total"
                and sample.labels.get("reason") == "queue_full"
            ):
                counts["dropped"] += int(sample.value)
            elif sample.name == "grounding_audit_queue_depth":
                counts["left"] += int(sample.value)
    return counts


def wait_for_drained_queue(url: str, timeout_s: float = 90) -> None:
    """Until no audit waits and the last one running has finished (two equal readings)."""
    deadline = time.monotonic() + timeout_s
    previous = None
    while time.monotonic() < deadline:
        counts = audit_counters(url)
        if counts["left"] == 0 and counts == previous:
            return
        previous = counts
        time.sleep(0.5)


def run_http_phase(url: str, scans: list[ScanImage], config: LoadConfig) -> PhaseSample:
    before = audit_counters(url)
    spans = asyncio.run(_closed_loop(url, scans, config))
    after = audit_counters(url)
    audits = Counter({key: after[key] - before[key] for key in ("submitted", "completed")})
    audits["dropped"] = after["dropped"] - before["dropped"]
    audits["left"] = after["left"]
    measure_from, end = spans.window
    latencies, finished = window_sample(spans.spans, measure_from, end)
    return PhaseSample(latencies, finished, config.duration_s, None, audits)


class _Spans:
    def __init__(self, window: tuple[float, float]) -> None:
        self.window = window
        self.spans: list[tuple[float, float]] = []
        self.errors = 0


async def _closed_loop(url: str, scans: list[ScanImage], config: LoadConfig) -> _Spans:
    begin = time.perf_counter()
    result = _Spans((begin + config.warmup_s, begin + config.warmup_s + config.duration_s))
    limits = httpx.Limits(max_connections=config.producers + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await asyncio.gather(
            *(_client(index, client, scans, config, result) for index in range(config.producers))
        )
    if result.errors:
        raise RuntimeError(f"{result.errors} requests failed during {config.name}")
    return result


async def _client(
    index: int,
    client: httpx.AsyncClient,
    scans: list[ScanImage],
    config: LoadConfig,
    result: _Spans,
) -> None:
    rng = random.Random(config.seed * 1000 + index)
    end = result.window[1]
    sent = 0
    while time.perf_counter() < end:
        scan, question = rng.choice(scans), rng.choice(QUESTIONS)
        request_id = f"{config.name}-{index}-{sent}"
        sent += 1
        body: dict[str, object] = {
            "image_base64": scan.base64,
            "question": question.text,
            "request_id": request_id,
            "audit": sample_decision(request_id, config.mirror_rate),
        }
        if question.options:
            body["options"] = question.options
        started = time.perf_counter()
        response = await client.post("/predict", json=body)
        finished = time.perf_counter()
        if response.status_code != 200:
            result.errors += 1
        else:
            result.spans.append((started, finished))
        if config.think_s > 0:
            pause = rng.expovariate(1.0 / config.think_s)
            await asyncio.sleep(max(0.0, min(pause, end - time.perf_counter())))
