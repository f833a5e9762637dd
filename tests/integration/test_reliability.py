"""Degradation order production > audits > telemetry, through `bentoml serve` of the demo model.

One served service (audit queue of 2, every request mirrored, a Redis of its own) goes through
saturation, a slow Redis, a Redis killed and restarted mid-traffic and a killed worker, in that
order. A second service is stopped with SIGTERM while production requests are in flight.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
import redis as redis_py
from prometheus_client.parser import text_string_to_metric_families

from service.telemetry.redis_keys import STREAM_KEY
from tests.support.images import png_bytes
from tests.support.servers import (
    RedisServer,
    ServedService,
    redis_server,
    start_service,
    wait_until,
)

AUDITED = re.compile(r"grounding\.audits audit request_id=(\S+)")


# --- helpers -----------------------------------------------------------------------------------


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def predict(
    url: str, request_id: str, seed: int, *, audit: bool | None = None, timeout: float = 120
) -> httpx.Response:
    data = {"question": "Is there a lesion?", "request_id": request_id}
    if audit is not None:
        data["audit"] = str(audit).lower()
    return httpx.post(
        f"{url}/predict",
        files={"image": ("scan.png", png_bytes(seed % 40, (48, 48)), "image/png")},
        data=data,
        timeout=timeout,
    )


def audited_ids(log: str, prefix: str) -> list[str]:
    """Request ids whose mirrored audit completed (the log sink's line), in completion order."""
    return [rid for rid in AUDITED.findall(log) if rid.startswith(prefix)]


def stream_ids(server: RedisServer) -> list[str]:
    client = redis_py.Redis(port=server.port, decode_responses=True)
    try:
        return [fields["request_id"] for _, fields in client.xrange(STREAM_KEY)]
    finally:
        client.close()


def wait_for_idle_audits(url: str, timeout: float = 90) -> None:
    """Until no mirrored audit waits (two reads in a row, the running one included)."""
    seen: list[float] = []

    def idle() -> bool:
        seen.append(metric(url, "grounding_audit_queue_depth"))
        return len(seen) >= 2 and seen[-1] == 0 and seen[-2] == 0

    assert wait_until(idle, timeout, 0.5), "the audit queue did not drain"


def worker_pids(served: ServedService) -> set[int]:
    root = psutil.Process(served.process.pid)
    return {
        child.pid
        for child in root.children(recursive=True)
        if any("worker.service" in part for part in child.cmdline())
    }


@dataclass
class Sent:
    request_id: str
    sent_at: float
    status: int
    latency_s: float


@dataclass
class Traffic:
    """Sequential production requests from a thread until stopped."""

    url: str
    prefix: str
    pause_s: float = 0.15
    sent: list[Sent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=150)

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            request_id = f"{self.prefix}-{index:04d}"
            started = time.monotonic()
            try:
                status = predict(self.url, request_id, index).status_code
            except httpx.HTTPError:
                status = -1
            self.sent.append(Sent(request_id, started, status, time.monotonic() - started))
            index += 1
            self._stop.wait(self.pause_s)

    def wait_for(self, count: int, timeout: float = 120) -> None:
        assert wait_until(lambda: len(self.sent) >= count, timeout, 0.05), len(self.sent)


# --- the service under faults ------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("reliability-redis")) as server:
        yield server


def _env(demo_model_dir: Path, redis: RedisServer, **extra: str) -> dict[str, str]:
    return {
        "GROUNDING_MODEL_PATH": str(demo_model_dir),
        "GROUNDING_MODEL_NAME": "demo",
        "GROUNDING_MAX_NEW_TOKENS": "8",
        "GROUNDING_SAMPLE_RATE": "1",
        "GROUNDING_MAX_IMAGE_BYTES": "300000",
        "GROUNDING_REDIS_URL": redis.url,
        **extra,
    }


@pytest.fixture(scope="module")
def served(
    demo_model_dir: Path, module_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedService]:
    log = tmp_path_factory.mktemp("serve-faults") / "bentoml.log"
    service = start_service(_env(demo_model_dir, module_redis, GROUNDING_AUDIT_QUEUE_SIZE="2"), log)
    yield service
    service.stop()


def test_saturation_sheds_audits_and_answers_every_production_request(
    served: ServedService,
) -> None:
    url = served.url
    before = {
        "requests": metric(url, "grounding_requests_total", model="demo"),
        "mirrored": metric(url, "grounding_mirrored_total", model="demo"),
        "audits": metric(url, "grounding_audits_total", model="demo"),
        "dropped": metric(url, "grounding_audits_dropped_total", model="demo"),
        "queue_full": metric(url, "grounding_audits_dropped_total", reason="queue_full"),
    }
    count = 32
    with ThreadPoolExecutor(count) as pool:
        responses = list(pool.map(lambda i: predict(url, f"sat-{i:03d}", i), range(count)))
    assert [r.status_code for r in responses] == [200] * count, [r.text for r in responses][:3]
    assert all(r.json()["audit"]["sampled"] for r in responses)
    assert metric(url, "grounding_requests_total", model="demo") - before["requests"] == count
    assert metric(url, "grounding_mirrored_total", model="demo") - before["mirrored"] == count
    shed = metric(url, "grounding_audits_dropped_total", reason="queue_full") - before["queue_full"]
    assert shed > 0, "a queue of 2 under 32 concurrent requests must shed audits"

    def accounted() -> bool:  # every mirrored request: a completed audit or a counted drop
        done = metric(url, "grounding_audits_total", model="demo") - before["audits"]
        dropped = metric(url, "grounding_audits_dropped_total", model="demo") - before["dropped"]
        return done + dropped == count

    assert wait_until(accounted, 90, 0.5), "a mirrored audit was neither completed nor counted"
    completed = audited_ids(served.log(), "sat-")
    assert 0 < len(completed) <= count - shed


def test_a_slow_redis_does_not_slow_production_and_loses_no_record(
    served: ServedService, module_redis: RedisServer
) -> None:
    url = served.url
    wait_for_idle_audits(url)
    errors_before = metric(url, "grounding_sink_errors_total", sink="redis")
    admin = redis_py.Redis(port=module_redis.port)
    admin.execute_command("CLIENT", "PAUSE", "60000", "WRITE")  # every write waits, as if slow
    paused_at = time.monotonic()
    try:
        for index in range(3):  # audits that complete while Redis cannot take them
            assert predict(url, f"slow-{index}", 100 + index, audit=True).status_code == 200
            assert wait_until(
                lambda: len(audited_ids(served.log(), "slow-")) == index + 1,  # noqa: B023
                90,
                0.2,
            )
        assert wait_until(
            lambda: metric(url, "grounding_sink_errors_total", sink="redis") > errors_before,
            30,
            0.5,
        ), "writes that time out must be counted"
        latencies = []
        for index in range(4):  # production while the sink is stuck on the slow Redis
            started = time.monotonic()
            response = predict(url, f"slow-prod-{index}", 120 + index, audit=False)
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
        stats_started = time.monotonic()
        stats = httpx.get(f"{url}/stats", timeout=30)
        stats_s = time.monotonic() - stats_started
        held_back = not set(stream_ids(module_redis)) & {f"slow-{i}" for i in range(3)}
        still_paused = time.monotonic() - paused_at < 55
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
    assert still_paused, "the measurements must fall inside the pause"
    assert held_back, "the paused Redis must not have taken the records yet"
    assert max(latencies) < 5, f"production waited on Redis: {latencies}"
    assert stats.status_code == 200 and stats_s < 10
    assert wait_until(
        lambda: {f"slow-{i}" for i in range(3)} <= set(stream_ids(module_redis)), 30, 0.3
    ), "the records delayed by the slow Redis must arrive"
    ids = stream_ids(module_redis)
    assert sorted(i for i in ids if i.startswith("slow-")) == ["slow-0", "slow-1", "slow-2"], (
        "a write retried after a timeout must not be stored twice"
    )
    admin.close()


def test_redis_killed_and_restarted_mid_traffic(
    served: ServedService, module_redis: RedisServer
) -> None:
    url = served.url
    wait_for_idle_audits(url)
    errors_before = metric(url, "grounding_sink_errors_total", sink="redis")
    overflow_before = metric(url, "grounding_sink_overflow_total", sink="redis")
    with Traffic(url, "kill") as traffic:
        traffic.wait_for(3)
        module_redis.process.kill()  # SIGKILL: no goodbye to the clients
        module_redis.process.wait(timeout=10)
        killed_at = time.monotonic()
        assert wait_until(
            lambda: metric(url, "grounding_sink_errors_total", sink="redis") > errors_before,
            30,
            0.5,
        ), "the failed writes must be counted"
        after_kill = lambda: [s.request_id for s in traffic.sent if s.sent_at > killed_at]  # noqa: E731
        assert wait_until(
            lambda: len(set(audited_ids(served.log(), "kill-")) & set(after_kill())) >= 3, 120, 0.3
        ), "audits must go on while Redis is down"
        stats = httpx.get(f"{url}/stats", timeout=30).json()
        assert stats["source"] == "local" and stats["redis"]["connected"] is False
        assert stats["redis"]["buffered"] >= 3
        during_outage = set(audited_ids(served.log(), "kill-")) & set(after_kill())
        module_redis.start()  # an empty server on the same port
        restarted_at = time.monotonic()
        assert wait_until(lambda: any(s.sent_at > restarted_at + 1 for s in traffic.sent), 60, 0.1)
    sent = traffic.sent
    assert [s.status for s in sent] == [200] * len(sent), [s for s in sent if s.status != 200]
    assert max(s.latency_s for s in sent) < 30
    wait_for_idle_audits(url)
    audited_after_kill = set(audited_ids(served.log(), "kill-")) & set(after_kill())
    assert wait_until(lambda: audited_after_kill <= set(stream_ids(module_redis)), 60, 0.5), (
        "every record audited since the kill must reach the restarted Redis: missing "
        f"{sorted(audited_after_kill - set(stream_ids(module_redis)))}"
    )
    assert during_outage <= set(stream_ids(module_redis))
    assert metric(url, "grounding_sink_overflow_total", sink="redis") == overflow_before
    stats = httpx.get(f"{url}/stats", timeout=30).json()
    assert stats["source"] == "redis" and stats["redis"]["connected"] is True


def ledger(url: str) -> dict[str, int]:
    stats = httpx.get(f"{url}/stats", timeout=30).json()
    assert stats["source"] == "redis", stats
    return stats["ledger"]


def test_a_killed_worker_is_replaced_and_serves_again(served: ServedService) -> None:
    """The audits queued in the killed worker are lost; the ledger in Redis shows the gap."""
    url = served.url
    wait_for_idle_audits(url)
    settled = ledger(url)  # earlier tests replaced Redis: compare with this, not with 0
    before = worker_pids(served)
    assert len(before) == 1, before
    (victim,) = before
    with ThreadPoolExecutor(4) as pool:  # mirrored audits fill the worker's queue
        list(pool.map(lambda i: predict(url, f"kill-{i}", 60 + i, audit=True), range(4)))
    assert wait_until(
        lambda: (
            (now := ledger(url))["mirrored"] >= settled["mirrored"] + 4 and now["unaccounted"] > 0
        ),
        10,
        0.02,
    ), "no mirrored audit was queued or running"
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    assert wait_until(lambda: not psutil.pid_exists(victim) or _zombie(victim), 10, 0.1)

    def serving_again() -> bool:
        if httpx.get(f"{url}/readyz", timeout=5).status_code != 200:
            return False
        return predict(url, "after-kill", 7, audit=False, timeout=10).status_code == 200

    assert wait_until(serving_again, 120, 0.5), served.log()[-3000:]
    recovery_s = time.monotonic() - killed_at
    replaced = worker_pids(served)
    assert len(replaced) == 1 and victim not in replaced
    assert served.process.poll() is None, "the server itself must not go down"
    assert recovery_s < 120
    assert metric(url, "grounding_requests_total", model="demo") >= 1
    after = ledger(url)  # the new worker has mirrored nothing (audit=false)
    # lost with the worker, and visible after its death
    assert after["unaccounted"] > settled["unaccounted"], (settled, after)
    assert after["mirrored"] - after["recorded"] - after["dropped"] == after["unaccounted"]


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# --- graceful shutdown -------------------------------------------------------------------------


def test_sigterm_answers_every_accepted_request_and_accounts_for_every_audit(
    demo_model_dir: Path, module_redis: RedisServer, tmp_path: Path
) -> None:
    """More requests than the in-flight limit: the first 503 proves the limit is full, and
    SIGTERM follows at once, while the admitted requests (one model call each, one at a time)
    are still inside the service. A request the server had not read yet when the signal came
    may be refused (503) or find its connection closed; none may hang."""
    limit = 3
    served = start_service(
        _env(
            demo_model_dir,
            module_redis,
            GROUNDING_MAX_NEW_TOKENS="64",
            GROUNDING_MAX_BATCH_SIZE="1",
            GROUNDING_MAX_CONCURRENCY=str(limit),
            GROUNDING_SHUTDOWN_GRACE_S="0",
            GROUNDING_AUDIT_QUEUE_SIZE="64",
        ),
        tmp_path / "bentoml.log",
    )
    results: dict[str, int | str] = {}
    refused = threading.Event()

    def send(request_id: str, seed: int) -> None:
        try:
            status = predict(served.url, request_id, seed).status_code
        except httpx.HTTPError as exc:
            results[request_id] = type(exc).__name__
            return
        results[request_id] = status
        if status == 503:
            refused.set()

    try:
        assert predict(served.url, "term-warm", 0, audit=False).status_code == 200
        threads = [
            threading.Thread(target=send, args=(f"term-{i}", 50 + i), daemon=True)
            for i in range(limit + 2)
        ]
        for thread in threads:
            thread.start()
        assert refused.wait(60), "the requests never filled the in-flight limit"
        signalled_at = time.monotonic()
        returncode = served.stop(signal.SIGTERM, timeout_s=150)
        shutdown_s = time.monotonic() - signalled_at
        for thread in threads:
            thread.join(timeout=30)
    finally:
        served.stop(signal.SIGKILL)
    log = served.log()
    answered = sorted(r for r, status in results.items() if status == 200)
    assert len(results) == limit + 2, results
    assert len(answered) >= limit, f"every admitted request must be answered: {results}"
    never_admitted = {"ConnectError", "RemoteProtocolError", "ReadError"}  # not a timeout
    assert all(status in (200, 503) or status in never_admitted for status in results.values())
    dropped = [int(n) for n in re.findall(r"engine stopped; (\d+) queued audits dropped", log)]
    assert len(dropped) == 1, log[-3000:]
    stored = set(stream_ids(module_redis)) & set(answered)
    assert len(stored) + dropped[0] == len(answered), (
        f"{len(answered)} answered and mirrored, {len(stored)} audit records in Redis, "
        f"{dropped[0]} counted as dropped at shutdown"
    )
    assert dropped[0] >= 1, "with no grace period the queued audits must be counted as dropped"
    assert "Completed cleanup hook: drain" in log
    assert returncode == 0, log[-3000:]
    assert shutdown_s < 150
