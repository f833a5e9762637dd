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

from audits.backend import VLMInput
from service.core import GroundingCore
from service.engine import AuditTask, EngineStopped, InferenceEngine
from service.settings import Settings
from tests.support.images import png_bytes

POISON = "POISON"


def dropped(model: str, reason: str) -> float:
    labels = {"model": model, "reason": reason}
    return REGISTRY.get_sample_value("grounding_audits_dropped_total", labels) or 0.0


class AuditBatchFails:
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


class OneBadProductionItem:
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
        assert first.result(timeout=5) == "answer:first"
        assert mates[0].result(timeout=5) == "answer:a"
        assert mates[2].result(timeout=5) == "answer:b"
        with pytest.raises(ValueError, match="tokenizer"):
            mates[1].result(timeout=5)
        assert backend.batches[:2] == [1, 3], "the three waited and went as one batch"
        assert engine.submit_production(VLMInput("later")).result(timeout=5) == "answer:later"
    finally:
        engine.stop(grace_s=1)


class HeldAuditStep:
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


def _task(outcomes: dict[str, BaseException | None], name: str, steps: int) -> AuditTask:
    def run() -> Iterator:
        for _ in range(steps):
            yield lambda backend: backend.generate([VLMInput("audit")])

    return AuditTask(steps=run(), on_done=lambda error: outcomes.__setitem__(name, error))


@pytest.mark.parametrize("steps", [1, 2], ids=["last-step-running", "more-steps-left"])
def test_the_audit_running_when_the_engine_stops_is_finished_or_counted_never_lost(
    steps: int,
) -> None:
    backend = HeldAuditStep()
    reasons: Counter[str] = Counter()
    engine = InferenceEngine(backend, on_audit_dropped=lambda reason: reasons.update([reason]))
    engine.start()
    outcomes: dict[str, BaseException | None] = {}
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
    assert set(outcomes) == {"running", "queued-1", "queued-2"}, "every audit was finished"
    assert isinstance(outcomes["queued-1"], EngineStopped)
    assert isinstance(outcomes["queued-2"], EngineStopped)
    if steps == 1:  # its work was complete: the record must not be lost
        assert outcomes["running"] is None
        assert reasons == {"shutdown": 2} and returned == [2]
    else:
        assert isinstance(outcomes["running"], EngineStopped)
        assert reasons == {"shutdown": 3}
        assert returned == [3], "the count drain() logs includes the audit that was running"
