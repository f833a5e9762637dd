"""Audit completion runs off the model thread, bounded, and reports what it gives up."""

from __future__ import annotations

import threading
from collections import Counter

from service.engine.completion import CompletionWorker


def test_completions_run_on_their_own_thread_in_order() -> None:
    seen: list[tuple[int, str]] = []
    worker = CompletionWorker(capacity=8)
    for i in range(5):
        worker.submit(lambda i=i: seen.append((i, threading.current_thread().name)))
    assert worker.wait_idle(5.0)
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4]
    assert {name for _, name in seen} == {"audit-completion"}
    assert worker.stop() == 0


def test_a_full_worker_gives_up_the_newest_and_reports_it() -> None:
    dropped: Counter[str] = Counter()
    release = threading.Event()
    worker = CompletionWorker(capacity=2, on_dropped=lambda reason: dropped.update([reason]))
    worker.submit(release.wait)  # occupies the thread
    assert worker.wait_idle(0.05) is False
    accepted = [worker.submit(lambda: None) for _ in range(4)]
    assert accepted == [True, True, False, False]
    assert dropped == {"completion_full": 2}
    release.set()
    assert worker.wait_idle(5.0)


def test_a_failing_completion_is_reported_and_the_worker_lives() -> None:
    dropped: Counter[str] = Counter()
    worker = CompletionWorker(on_dropped=lambda reason: dropped.update([reason]))
    ran: list[int] = []

    def boom() -> None:
        raise RuntimeError("sink exploded")

    worker.submit(boom)
    worker.submit(lambda: ran.append(1))
    assert worker.wait_idle(5.0)
    assert dropped == {"error": 1} and ran == [1]


def test_stop_counts_what_it_could_not_finish() -> None:
    dropped: Counter[str] = Counter()
    release = threading.Event()
    worker = CompletionWorker(capacity=8, on_dropped=lambda reason: dropped.update([reason]))
    worker.submit(release.wait)
    worker.submit(lambda: None)
    worker.submit(lambda: None)
    assert worker.stop(timeout=0.1) == 2
    assert dropped["shutdown"] == 2
    release.set()
    assert worker.submit(lambda: None) is False
