"""Audit work holds the model for one short slice at most: a production request that arrives
while an audit decodes waits for the rest of one decoding step, not for the audit; scored rows
go in chunks; and production served in the middle of an audit's generation changes nothing in
the audit's outputs (the model's per-generation state is put back)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from audits.contracts.backend import BackendBase, BackendCapabilities, VLMInput
from audits.contracts.types import COUNTERFACTUALS
from audits.science.audit_steps import ItemAuditRun, ItemAuditSpec
from service.engine.audit_queue import AuditTask
from service.engine.scheduler import InferenceEngine
from tests.support.images import noise_image

STEP_S = 0.02
AUDIT_STEPS = 100


class SteppedBackend(BackendBase):
    """Audit generation is AUDIT_STEPS decoding steps of STEP_S each, polling should_stop
    between them, like the transformers runtime; production is one short call."""

    model_name = "stepped"
    capabilities = BackendCapabilities(preemption=True)

    def __init__(self) -> None:
        self.step = 0
        self.audit_calls = 0
        self.audit_started = threading.Event()
        self.production_at_step: list[int] = []
        self.score_calls: list[int] = []
        self.events: list[str] = []

    def generate(self, items: Sequence[VLMInput], should_stop=None, **_: object) -> list[str]:
        if items and items[0].question == "audit":
            self.audit_calls += 1
            self.audit_started.set()
            for index in range(AUDIT_STEPS):
                time.sleep(STEP_S)
                self.step = index + 1
                if should_stop is not None and should_stop():
                    raise AssertionError("the engine serves production instead of stopping")
            return ["yes"] * len(items)
        self.production_at_step.append(self.step)
        self.events.append("production")
        return [f"answer to {item.question}" for item in items]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        self.score_calls.append(len(items))
        self.events.append(f"score {len(items)}")
        time.sleep(0.05)
        return [0.0] * len(items)


def _task(steps, done: list[str]) -> AuditTask:
    return AuditTask(steps=iter(steps), on_done=lambda error: done.append(repr(error)))


def _wait(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert condition()


def test_production_arriving_during_audit_generation_starts_within_one_decoding_step() -> None:
    backend = SteppedBackend()
    engine = InferenceEngine(backend)
    engine.start()
    done: list[str] = []
    try:
        engine.submit_audit(_task([lambda b: b.generate([VLMInput("audit")] * 3)], done))
        assert backend.audit_started.wait(5)
        _wait(lambda: backend.step >= 3)
        submitted_at_step = backend.step
        started = time.monotonic()
        answer = engine.submit_production(VLMInput("urgent")).result(timeout=10).text
        waited = time.monotonic() - started
        assert answer == "answer to urgent"
        # served at the next decoding step of the audit, never after the audit's end
        assert backend.production_at_step[0] <= submitted_at_step + 1
        assert backend.production_at_step[0] < AUDIT_STEPS
        assert waited < AUDIT_STEPS * STEP_S / 2, "production waited for the audit"
        _wait(lambda: bool(done))
    finally:
        engine.stop(grace_s=5)
    assert done == ["None"], "the audit went on where it was and completed"
    assert backend.audit_calls == 1, "no work was thrown away: the audit ran once"
    assert engine.preemptions == 1


def test_scored_rows_run_in_chunks_with_production_between_them() -> None:
    backend = SteppedBackend()
    engine = InferenceEngine(backend, audit_rows_per_step=4)
    engine.start()
    done: list[str] = []
    first_chunk = threading.Event()
    original = backend.score

    def score(items, answers):
        values = original(items, answers)
        first_chunk.set()
        return values

    try:
        backend.score = score  # type: ignore[method-assign]
        engine.submit_audit(_task([lambda b: b.score([VLMInput("s")] * 10, ["yes"] * 10)], done))
        # production arrives while the first chunk runs
        _wait(lambda: bool(backend.score_calls))
        future = engine.submit_production(VLMInput("urgent"))
        assert future.result(timeout=10).text == "answer to urgent"
        _wait(lambda: bool(done))
    finally:
        engine.stop(grace_s=5)
    assert backend.score_calls == [4, 4, 2]
    assert backend.events.index("production") < len(backend.events) - 1, backend.events


class NestedCalls(BackendBase):
    """The runtime, counting production generated inside an audit's generate call."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.model_name = backend.model_name
        self.capabilities = backend.capabilities
        self.depth = 0
        self.nested = 0

    def generate(self, items, **kwargs):
        self.nested += self.depth
        self.depth += 1
        try:
            return self.backend.generate(items, **kwargs)
        finally:
            self.depth -= 1

    def score(self, items, answers):
        return self.backend.score(items, answers)


def test_production_in_the_middle_of_an_audit_changes_no_audit_output(
    demo_model_dir: Path,
) -> None:
    """The real runtime (Qwen2-VL keeps rope_deltas on its module between decoding steps):
    an audit with a production request served after every one of its decoding steps gives the
    outputs and scores of the same audit run alone."""
    from audits.backends.transformers_runtime import TransformersRuntime

    runtime = TransformersRuntime(demo_model_dir, device="cpu", max_new_tokens=12)
    image, other = noise_image(1), noise_image(2, (80, 60))

    def spec() -> ItemAuditSpec:
        return ItemAuditSpec(
            question="Is there a lesion?",
            image=image,
            conditions=COUNTERFACTUALS,
            mode="both",
            shuffled_image=other,
            real_output=runtime.generate([VLMInput("Is there a lesion?", image)])[0],
        )

    alone = ItemAuditRun(spec())
    alone.run_all(runtime)

    watched = NestedCalls(runtime)
    engine = InferenceEngine(watched, audit_rows_per_step=3)
    engine.start()
    interrupted = ItemAuditRun(spec())
    done: list[str] = []
    production: list[str] = []
    stop_feeding = threading.Event()

    def feed() -> None:  # keeps one production request waiting while the audit runs
        while not stop_feeding.is_set():
            item = VLMInput("Which side?", noise_image(3, (40, 40)))
            production.append(engine.submit_production(item).result(timeout=30).text)

    try:
        engine.submit_audit(_task(interrupted.steps(), done))
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        _wait(lambda: bool(done), timeout=60)
        stop_feeding.set()
        feeder.join(timeout=30)
    finally:
        engine.stop(grace_s=5)
    assert done == ["None"]
    assert watched.nested > 0, "no production ran in the middle of the audit's generation"
    assert interrupted.outputs == alone.outputs
    assert interrupted.logps == pytest.approx(alone.logps, abs=1e-4)
    expected = runtime.generate([VLMInput("Which side?", noise_image(3, (40, 40)))])[0]
    assert set(production) == {expected}, "production answered as if alone"
