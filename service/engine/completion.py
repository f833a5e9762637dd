"""Audit completion off the model thread: flag computation, claim detection, record building and
the fan-out to sinks run on one small bounded worker, so a waiting production batch never
queues behind them. When the worker is behind by ``capacity`` completions, the newest is given
up and reported (reason ``completion_full``)."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Completion = Callable[[], None]


class CompletionWorker:
    def __init__(
        self,
        *,
        capacity: int = 1024,
        on_dropped: Callable[[str], None] | None = None,
        name: str = "audit-completion",
    ) -> None:
        self._queue: queue.Queue[Completion | None] = queue.Queue(maxsize=capacity)
        self._on_dropped = on_dropped or (lambda reason: None)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._accepting = True
        self._thread.start()

    def submit(self, completion: Completion) -> bool:
        """Queue a completion; never blocks. False (and reported) when it was given up."""
        if not self._accepting:
            self._on_dropped("shutdown")
            return False
        try:
            self._queue.put_nowait(completion)
        except queue.Full:
            self._on_dropped("completion_full")
            return False
        return True

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def _loop(self) -> None:
        while True:
            completion = self._queue.get()
            try:
                if completion is None:
                    return
                completion()
            except Exception:
                log.exception("audit completion failed")
                self._on_dropped("error")
            finally:
                self._queue.task_done()

    def wait_idle(self, timeout: float) -> bool:
        """True when every queued completion has run within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self, timeout: float = 5.0) -> int:
        """Run what is queued for up to ``timeout`` s; returns the completions given up."""
        self._accepting = False
        self.wait_idle(timeout)
        abandoned = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            self._queue.task_done()
            if item is not None:
                abandoned += 1
                self._on_dropped("shutdown")
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout=1.0)
        return abandoned
