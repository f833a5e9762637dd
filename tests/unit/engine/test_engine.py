"""Production has strict priority over audits; overflow drops audits and counts them."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence

from audits.contracts.backend import (
    BackendBase,
    BackendCapabilities,
    GenerationInterrupted,
    GenerationParams,
    VLMInput,
)
from service.engine.audit_queue import AuditTask
from service.engine.scheduler import InferenceEngine


class BlockingAuditBackend(BackendBase):
    """Production calls answer at once; audit calls (question 'audit') block until released."""

    model_name = "double"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.audit_started = threading.Event()
        self.calls: list[str] = []

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        if items and items[0].question == "audit":
            self.audit_started.set()
            self.release.wait(timeout=30)
            self.calls.append("audit")
            return ["yes"] * len(items)
        self.calls.append("production")
        return [f"answer to {item.question}" for item in items]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [0.0] * len(items)


def _audit_task(done: list[str], name: str) -> AuditTask:
    def steps() -> Iterator:
        yield lambda backend: backend.generate([VLMInput("audit")])

    return AuditTask(steps=steps(), on_done=lambda error: done.append(f"{name}:{error is None}"))


def test_production_completes_while_100_audits_wait_and_overflow_is_counted() -> None:
    backend = BlockingAuditBackend()
    dropped: Counter[str] = Counter()
    engine = InferenceEngine(
        backend, audit_queue_size=100, on_stats=lambda stats: dropped.update(stats.audits_dropped)
    )
    engine.start()
    done: list[str] = []
    try:
        for index in range(101):  # the first one runs (and blocks), 100 wait
            engine.submit_audit(_audit_task(done, f"a{index}"))
            if index == 0:
                assert backend.audit_started.wait(5)
        assert engine.audit_queue_depth == 100
        for index in range(101, 106):  # 5 more while the queue is full: the 5 oldest go
            engine.submit_audit(_audit_task(done, f"a{index}"))
        assert dropped["queue_full"] == 5
        assert engine.audit_queue_depth == 100

        production = engine.submit_production(VLMInput("q1"))
        backend.release.set()
        assert production.result(timeout=10).text == "answer to q1"
        assert backend.calls[:2] == ["audit", "production"], "production jumps the audit queue"
    finally:
        backend.release.set()
        engine.stop(grace_s=20)
    finished_ok = [entry for entry in done if entry.endswith(":True")]
    assert len(done) == 106, "every audit either ran or was dropped with a reason"
    assert len(finished_ok) == 101
    assert dropped["queue_full"] == 5 and dropped["shutdown"] == 0


def test_waiting_production_goes_before_queued_audits() -> None:
    backend = BlockingAuditBackend()
    engine = InferenceEngine(backend, audit_queue_size=10)
    engine.start()
    done: list[str] = []
    try:
        engine.submit_audit(_audit_task(done, "first"))
        assert backend.audit_started.wait(5)
        engine.submit_audit(_audit_task(done, "second"))
        production = engine.submit_production(VLMInput("urgent"))
        backend.release.set()
        assert production.result(timeout=10).text == "answer to urgent"
    finally:
        engine.stop(grace_s=5)
    first_production = backend.calls.index("production")
    assert backend.calls[:first_production] == ["audit"], backend.calls


def test_stop_counts_unfinished_audits_as_shutdown() -> None:
    backend = BlockingAuditBackend()
    dropped: Counter[str] = Counter()
    engine = InferenceEngine(backend, on_stats=lambda stats: dropped.update(stats.audits_dropped))
    engine.start()
    done: list[str] = []
    for index in range(4):
        engine.submit_audit(_audit_task(done, f"a{index}"))
    assert backend.audit_started.wait(5)
    threading.Timer(0.5, backend.release.set).start()
    assert engine.stop(grace_s=0.1) == 3
    assert dropped["shutdown"] == 3


class PreemptibleBackend(BackendBase):
    """Audit generation runs until production has been served in its middle (a long
    reasoning trace that polls should_stop between decoding steps)."""

    model_name = "preemptible"
    capabilities = BackendCapabilities(preemption=True)

    def __init__(self) -> None:
        self.audit_attempts = 0
        self.audit_started = threading.Event()
        self.served = threading.Event()

    def generate(self, items: Sequence[VLMInput], should_stop=None, **_: object) -> list[str]:
        if items and items[0].question == "audit":
            self.audit_attempts += 1
            self.audit_started.set()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not self.served.is_set():
                if should_stop is not None and should_stop():
                    raise GenerationInterrupted("production arrived")
                time.sleep(0.001)
            return ["yes"] * len(items)
        self.served.set()
        return [f"answer to {item.question}" for item in items]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [0.0] * len(items)


def test_production_runs_in_the_middle_of_audit_generation_and_the_audit_goes_on() -> None:
    """Was: production interrupts the audit, which runs again from the start. Now production is
    served between two decoding steps of the audit, which goes on where it was."""
    backend = PreemptibleBackend()
    engine = InferenceEngine(backend)
    engine.start()
    done: list[str] = []
    try:
        engine.submit_audit(_audit_task(done, "long"))
        assert backend.audit_started.wait(5)
        started = time.monotonic()
        answer = engine.submit_production(VLMInput("urgent")).result(timeout=10).text
        assert answer == "answer to urgent"
        assert time.monotonic() - started < 5, "production must not wait for the long audit"
        deadline = time.monotonic() + 10
        while not done and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        engine.stop(grace_s=5)
    assert done == ["long:True"], "the audit completed"
    assert backend.audit_attempts == 1, "and was not run again"
    assert engine.preemptions == 1


class RecordsDecoding(BackendBase):
    """Holds the first call until released; records each batch's questions and decoding."""

    model_name = "records-decoding"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[tuple[list[str], int | None]] = []

    def generate(self, items, *, max_new_tokens=None, temperature=0.0, seed=None, **_):
        if not self.entered.is_set():
            self.entered.set()
            self.gate.wait(timeout=10)
        self.batches.append(([item.question for item in items], max_new_tokens))
        return [f"{item.question}:{max_new_tokens}" for item in items]

    def score(self, items, answers):
        return [0.0] * len(items)


def test_production_batches_hold_one_decoding_and_keep_arrival_order() -> None:
    backend = RecordsDecoding()
    engine = InferenceEngine(backend, max_batch_size=8)
    engine.start()
    try:
        first = engine.submit_production(VLMInput("first"))
        assert backend.entered.wait(5)
        short = GenerationParams(max_new_tokens=2)
        waiting = [
            engine.submit_production(VLMInput("a")),
            engine.submit_production(VLMInput("b"), short),
            engine.submit_production(VLMInput("c")),
            engine.submit_production(VLMInput("d"), short),
        ]
        backend.gate.set()
        assert first.result(timeout=5).text == "first:None"
        assert [f.result(timeout=5).text for f in waiting] == ["a:None", "b:2", "c:None", "d:2"]
        assert backend.batches[1:] == [(["a", "c"], None), (["b", "d"], 2)]
    finally:
        engine.stop(grace_s=1)
