"""Upstream mode's engine: production forwarded at once (502/504 on failure), audits with a
lower priority, bounded, backing off while production is in flight, retried, drops counted."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from audits.backends.openai_http import OpenAIBackend
from audits.contracts.backend import VLMInput
from service.engine.audit_queue import AuditTask
from service.engine.stats import SchedulerStats
from service.engine.upstream import UpstreamEngine
from service.errors import UpstreamFailed
from service.http.errors import status_of

Handler = Callable[[httpx.Request], httpx.Response]


def ok(text: str = "yes") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 1},
        },
    )


def client(handler: Handler, **options: object) -> OpenAIBackend:
    transport = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenAIBackend("http://up", "m", client=transport, backoff_s=0.001, **options)  # type: ignore[arg-type]


def engine_for(handler: Handler, dropped: Counter, **options: object) -> UpstreamEngine:
    def on_stats(stats: SchedulerStats) -> None:
        dropped.update(stats.audits_dropped)

    engine = UpstreamEngine(
        client(handler, max_retries=0),
        client(handler, max_retries=2, extra_body={"priority": 10}),
        on_stats=on_stats,
        **options,  # type: ignore[arg-type]
    )
    engine.start()
    return engine


def audit(done: list, name: str, questions: int = 1) -> AuditTask:
    def step(backend) -> None:
        backend.generate([VLMInput(f"{name}-{i}") for i in range(questions)])

    return AuditTask(steps=iter([step]), on_done=lambda error: done.append((name, error)))


def wait_for(check: Callable[[], bool], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_priority_goes_on_audit_requests_only() -> None:
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return ok()

    dropped: Counter = Counter()
    engine = engine_for(handler, dropped)
    try:
        assert asyncio.run(engine.generate(VLMInput("production"))) == "yes"
        done: list = []
        engine.submit_audit(audit(done, "audit", questions=3))
        assert wait_for(lambda: len(done) == 1)
        assert done == [("audit", None)] and engine.audits_completed == 1
    finally:
        engine.stop(grace_s=1)
    production = [b for b in bodies if b["messages"][0]["content"][-1]["text"] == "production"]
    audits = [b for b in bodies if b not in production]
    assert len(production) == 1 and "priority" not in production[0]
    assert len(audits) == 3 and all(b["priority"] == 10 for b in audits)


def test_production_failures_are_502_and_timeouts_504_never_retried() -> None:
    calls: Counter = Counter()

    def failing(request: httpx.Request) -> httpx.Response:
        calls["failing"] += 1
        return httpx.Response(500, json={"error": {"message": "CUDA out of memory"}})

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    for handler, status in ((failing, 502), (slow, 504)):
        engine = engine_for(handler, Counter())
        try:
            with pytest.raises(UpstreamFailed) as caught:
                asyncio.run(engine.generate(VLMInput("q")))
            assert status_of(caught.value) == status
        finally:
            engine.stop(grace_s=1)
    assert calls["failing"] == 1, "production is never retried"


def test_audits_are_retried_then_dropped_and_counted() -> None:
    attempts: Counter = Counter()

    def flaky(request: httpx.Request) -> httpx.Response:
        question = json.loads(request.content)["messages"][0]["content"][-1]["text"]
        attempts[question] += 1
        if question.startswith("doomed") or attempts[question] == 1:
            return httpx.Response(503)
        return ok()

    dropped: Counter = Counter()
    engine = engine_for(flaky, dropped)
    done: list = []
    try:
        engine.submit_audit(audit(done, "flaky"))
        engine.submit_audit(audit(done, "doomed"))
        assert wait_for(lambda: len(done) == 2)
    finally:
        engine.stop(grace_s=1)
    outcome = dict(done)
    assert outcome["flaky"] is None and attempts["flaky-0"] == 2
    assert outcome["doomed"] is not None and attempts["doomed-0"] == 3, "1 try + 2 retries"
    assert dropped == Counter({"upstream_error": 1})


def test_audit_concurrency_backs_off_while_production_is_in_flight() -> None:
    release = threading.Event()
    running = Counter()
    peak = Counter()
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        kind = "audit" if "priority" in body else "production"
        with lock:
            running[kind] += 1
            peak[kind] = max(peak[kind], running[kind])
        release.wait(5)
        with lock:
            running[kind] -= 1
        return ok()

    engine = engine_for(handler, Counter(), audit_concurrency=4, busy_audit_concurrency=1)
    done: list = []

    async def production_then_audits() -> None:
        answer = asyncio.ensure_future(engine.generate(VLMInput("p")))
        assert await asyncio.to_thread(wait_for, lambda: running["production"] == 1)
        for index in range(6):
            engine.submit_audit(audit(done, f"a{index}"))
        await asyncio.sleep(0.3)
        assert peak["audit"] == 1, "one audit at a time while production is in flight"
        release.set()
        await answer

    try:
        asyncio.run(production_then_audits())
        assert wait_for(lambda: len(done) == 6)
    finally:
        engine.stop(grace_s=1)
    assert all(error is None for _, error in done)


def test_a_full_queue_drops_the_oldest_audit() -> None:
    gate = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        gate.wait(5)
        return ok()

    dropped: Counter = Counter()
    engine = engine_for(handler, dropped, audit_concurrency=1, audit_queue_size=2)
    done: list = []
    try:
        engine.submit_audit(audit(done, "running"))
        assert wait_for(lambda: engine.audits_running == 1)
        for name in ("old", "newer", "newest"):
            engine.submit_audit(audit(done, name))
        gate.set()
        assert wait_for(lambda: len(done) == 4)
    finally:
        engine.stop(grace_s=1)
    assert dropped == Counter({"queue_full": 1})
    assert [name for name, error in done if error is not None] == ["old"]
