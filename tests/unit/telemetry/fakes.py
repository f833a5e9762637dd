"""A stand-in for the Redis loop: the outboxes' side of it, without a thread or a server."""

from __future__ import annotations

from typing import Any


class FakeScript:
    script = "return 1"


class FakeClient:
    def register_script(self, source: str) -> FakeScript:
        return FakeScript()


class FakeLoop:
    name = "redis"

    def __init__(self) -> None:
        self.client: Any = FakeClient()
        self.outboxes: list[Any] = []
        self.wakes = 0

    def add(self, outbox: Any) -> None:
        self.outboxes.append(outbox)

    def wake(self) -> None:
        self.wakes += 1

    def mark_up(self) -> None:
        pass

    def mark_down(self, exc: BaseException) -> None:
        pass
