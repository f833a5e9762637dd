"""Model errors and shutdown races inside the service core, with backend doubles.

A failing audit batch is counted (reason ``error``) and leaves production and the engine alive;
a failing production item does not fail its batch mates; an audit whose step is running when the
engine stops is finished and counted (reason ``shutdown``), never lost.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence

import pytest
from PIL import Image
from prometheus_client import REGISTRY

from audits.contracts.backend import BackendBase, VLMInput
from service.core import GroundingCore
from service.engine.audit_queue import AuditTask, EngineStopped
from service.engine.scheduler import InferenceEngine
from service.settings import Settings
from tests.support.images import png_bytes

POISON = "POISON"


def dropped(model: str, reason: str) -> float:
    labels = {"model": model, "reason": reason}
    return REGISTRY.get_sample_value("grounding_audits_dropped_total", labels) or 0.0


class AuditBatchFails(BackendBase):
    """Answers from the image brightness; an audit batch (it holds the no_image variant) of a
    question containing POISON raises, as a CUDA or tokenizer error would."""

    model_name = "audit-fails"

    def __init__(self) -> None:
        self.failures = 0
        self.calls = 0
        self.lock = threading.Lock()

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        with self.lock:
            self.calls += 1
        audit_batch = any(item.image is None for item in items)
        if audit_batch and any(POISON in item.question for item in items):
            with self.lock:
                self.failures += 1
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return [self._answer(item.image) for item in items]

    @staticmethod
    def _answer(image: Image.Image | None) -> str:
        if image is None:
            return "no"
        return "yes" if max(image.convert("L").getextrema()) > 128 else "no"

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [-1.0] * len(items)


def _settings(model: str) -> Settings:
    return Settings(
        redis_url="",
        model_name=model,
        sample_rate=1.0,
        audit_mode="generate",
        audit_queue_size=64,
        shutdown_grace_s=10.0,
    )


async def _serve(core: GroundingCore, question: str, seed: int) -> str:
    request = core.build_request(png_bytes(seed, (16, 16)), question, request_id=f"fm-{seed}")
    response = await core.predict(request)
    core.after_response(request, response)
    return response.request_id


def test_a_failing_audit_batch_is_counted_and_production_and_engine_live_on() -> None:
    model = "fm-audit-error"
    core = GroundingCore(_settings(model), backend=AuditBatchFails())
    backend = core.backend
    assert isinstance(backend, AuditBatchFails)
    errors_before = dropped(model, "error")

    async def traffic() -> list[str]:
        ids = []
        for seed in range(6):
            question = f"{POISON} is there a lesion?" if seed == 3 else "Is there a lesion?"
            ids.append(await _serve(core, question, seed))
        return ids

    try:
        ids = asyncio.run(traffic())
        assert core.memory.wait_for(5, timeout=20), "the five healthy audits must complete"
        time.sleep(0.2)  # the poisoned audit has run by now: it sits between healthy ones
        assert backend.failures == 1
        assert dropped(model, "error") - errors_before == 1
        recorded = {record.request_id for record in core.memory.records}
        assert recorded == set(ids) - {"fm-3"}, "only the poisoned audit is missing"
        assert core.engine.audit_queue_depth == 0
        calls_before = backend.calls
        after = asyncio.run(_serve(core, "Is there a lesion?", 99))
        assert after == "fm-99" and backend.calls > calls_before, "the engine still serves"
        assert core.memory.wait_for(6, timeout=20), "and still audits"
    finally:
        assert core.shutdown() == 0
    assert dropped(model, "shutdown") == 0


class OneBadProductionItem(BackendBase):
    """The first call blocks until released (so the next items batch); 'BAD' raises."""

    model_name = "bad-item"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[int] = []

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        if not self.entered.is_set():
            self.entered.set()
            self.gate.wait(timeout=10)
        self.batches.append(len(items))
        if any(item.question == "BAD" for item in items):
            raise ValueError("the tokenizer refused the input")
        return [f"answer:{item.question}" for item in items]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [0.0] * len(items)


def test_a_failing_production_item_does_not_fail_its_batch_mates() -> None:
    backend = OneBadProductionItem()
    engine = InferenceEngine(backend, max_batch_size=8)
    engine.start()
    try:
        first = engine.submit_production(VLMInput("first"))
        assert backend.entered.wait(5)
        mates = [engine.submit_production(VLMInput(q)) for q in ("a", "BAD", "b")]
        backend.gate.set()
        assert first.result(timeout=5).text == "answer:first"
        assert mates[0].result(timeout=5).text == "answer:a"
        assert mates[2].result(timeout=5).text == "answer:b"
        with pytest.raises(ValueError, match="tokenizer"):
            mates[1].result(timeout=5)
        assert backend.batches[:2] == [1, 3], "the three waited and went as one batch"
        assert engine.submit_production(VLMInput("later")).result(timeout=5).text == "answer:later"
    finally:
        engine.stop(grace_s=1)


class HeldAuditStep(BackendBase):
    """Production answers at once; every audit step blocks until released."""

    model_name = "held-audit"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        if items and items[0].question == "audit":
            self.started.set()
            self.release.wait(timeout=10)
        return ["yes"] * len(items)

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [0.0] * len(items)


Outcomes = dict[str, list[BaseException | None]]


def _task(outcomes: Outcomes, name: str, steps: int) -> AuditTask:
    def run() -> Iterator:
        for _ in range(steps):
            yield lambda backend: backend.generate([VLMInput("audit")])

    return AuditTask(steps=run(), on_done=lambda error: outcomes.setdefault(name, []).append(error))


@pytest.mark.parametrize("steps", [1, 2], ids=["last-step-running", "more-steps-left"])
def test_the_audit_running_when_the_engine_stops_is_finished_or_counted_never_lost(
    steps: int,
) -> None:
    backend = HeldAuditStep()
    reasons: Counter[str] = Counter()
    engine = InferenceEngine(backend, on_stats=lambda stats: reasons.update(stats.audits_dropped))
    engine.start()
    outcomes: Outcomes = {}
    for name in ("running", "queued-1", "queued-2"):
        engine.submit_audit(_task(outcomes, name, steps))
    assert backend.started.wait(5)
    returned: list[int] = []
    stopper = threading.Thread(target=lambda: returned.append(engine.stop(grace_s=0)))
    stopper.start()
    deadline = time.monotonic() + 5
    while engine.audit_queue_depth and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.audit_queue_depth == 0, "stop() cleared the queue while a step was running"
    backend.release.set()  # the running audit's step ends after the engine stopped
    stopper.join(timeout=15)
    assert not stopper.is_alive()
    assert sorted(outcomes) == ["queued-1", "queued-2", "running"], "every audit was finished"
    assert all(len(calls) == 1 for calls in outcomes.values()), outcomes
    assert isinstance(outcomes["queued-1"][0], EngineStopped)
    assert isinstance(outcomes["queued-2"][0], EngineStopped)
    if steps == 1:  # its work was complete: the record must not be lost
        assert outcomes["running"] == [None]
        assert reasons == {"shutdown": 2} and returned == [2]
    else:
        assert isinstance(outcomes["running"][0], EngineStopped)
        assert reasons == {"shutdown": 3}
        assert returned == [3], "the count drain() logs includes the audit that was running"


def test_a_model_call_that_outlives_the_shutdown_wait_is_counted_once() -> None:
    backend = HeldAuditStep()
    reasons: Counter[str] = Counter()
    engine = InferenceEngine(backend, on_stats=lambda stats: reasons.update(stats.audits_dropped))
    engine.start()
    outcomes: Outcomes = {}
    engine.submit_audit(_task(outcomes, "running", 2))
    engine.submit_audit(_task(outcomes, "queued", 2))
    assert backend.started.wait(5)
    started = time.monotonic()
    assert engine.stop(grace_s=0) == 2, "the audit stuck in a model call is counted as dropped"
    assert time.monotonic() - started < 5, "stop() must not wait for the stuck model call"
    assert reasons == {"shutdown": 2}
    assert isinstance(outcomes["running"][0], EngineStopped)
    backend.release.set()  # the model call ends after all
    time.sleep(0.5)
    assert reasons == {"shutdown": 2}, "and it is not counted a second time"
    assert all(len(calls) == 1 for calls in outcomes.values()), outcomes


class HeldProduction(BackendBase):
    """Production calls wait until released, like a model stuck on a pathological input."""

    model_name = "held-production"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        self.calls += 1
        self.release.wait(timeout=10)
        return ["yes"] * len(items)

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [0.0] * len(items)


def test_a_model_slower_than_the_request_timeout_gets_503_and_the_engine_survives() -> None:
    """The service's own exception handlers around the core's timeout. A timed-out request
    cancels its future; the engine must neither die on it (set_result on a cancelled future)
    nor run a request whose caller has already gone."""
    import httpx
    from fastapi import FastAPI

    from service.service import app as service_app

    backend = HeldProduction()
    settings = Settings(
        redis_url="", model_name="fm-timeout", sample_rate=0.0, request_timeout_s=0.3
    )
    core = GroundingCore(settings, backend=backend)
    app = FastAPI()
    app.exception_handlers.update(service_app.exception_handlers)

    @app.post("/predict")
    async def predict() -> dict[str, str]:
        request = core.build_request(png_bytes(1, (16, 16)), "Is there a lesion?")
        return {"answer": (await core.predict(request)).answer}

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            started = time.monotonic()
            running, queued = await asyncio.gather(client.post("/predict"), client.post("/predict"))
            assert time.monotonic() - started < 3
            for slow in (running, queued):
                assert slow.status_code == 503
                assert slow.headers["retry-after"] == "2"
                assert "did not answer in time" in slow.json()["detail"]
            backend.release.set()
            assert (await client.post("/predict")).status_code == 200, "the engine lives on"
            assert backend.calls == 2, "the queued request whose caller gave up was not run"

    try:
        asyncio.run(scenario())
    finally:
        backend.release.set()
        core.shutdown()
