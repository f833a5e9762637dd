"""The audit ledger: every mirrored audit ends recorded or dropped.

A process that dies cannot report the audits it took with it, so the ledger lives in Redis:
how many audits were mirrored and how many dropped (and records lost from the sink's buffer,
``overflowed``) are added with ``HINCRBY`` to ``{grounding}:drift:<model>:counts`` beside the
``audits`` total the record script keeps, and ``/stats`` shows audits mirrored but neither
recorded nor dropped (queued now, or lost with a killed worker).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from service.telemetry.prometheus import EXPORTER
from service.telemetry.redis_keys import counts_key
from service.telemetry.redis_loop import RedisLoop, reply_or_error

log = logging.getLogger(__name__)


class AuditLedger(BaseModel):
    """Every mirrored audit ends recorded or dropped; what a process that died could not
    report shows as ``unaccounted`` (from Redis, so it survives the process)."""

    mirrored: int
    recorded: int
    dropped: int
    """Given up and counted: queue full, errors, shutdown, records lost from a sink buffer."""
    unaccounted: int
    """mirrored - recorded - dropped: audits queued or running now on some replica, plus audits
    lost with a process that was killed. A value that stays above 0 once traffic has stopped
    and the queues are empty is a loss."""


def audit_ledger(totals: Mapping[str, int]) -> AuditLedger:
    mirrored, recorded = totals.get("mirrored", 0), totals.get("audits", 0)
    dropped = totals.get("dropped", 0) + totals.get("overflowed", 0)
    return AuditLedger(
        mirrored=mirrored,
        recorded=recorded,
        dropped=dropped,
        unaccounted=mirrored - recorded - dropped,
    )


class LedgerCounts:
    """The ledger counts of this process that wait to be added in Redis (an outbox of the
    ``RedisLoop``); they wait in memory while Redis is away, like records."""

    name = "audit ledger counts"

    def __init__(self, loop: RedisLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._waiting: Counter[tuple[str, str]] = Counter()
        self._inflight: Counter[tuple[str, str]] = Counter()
        loop.add(self)

    def count(self, model: str, field: str, amount: int = 1) -> None:
        """Add to the ledger of ``model`` (``mirrored``, ``dropped``, ``overflowed``); never
        blocks."""
        with self._lock:
            self._waiting[(model, field)] += amount
        self._loop.wake()

    # -- the outbox (the Redis loop) -------------------------------------------------------------
    def take(self) -> int:
        with self._lock:
            self._inflight.update(self._waiting)
            self._waiting.clear()
            return len(self._inflight)

    def restore(self) -> None:
        with self._lock:
            self._waiting.update(self._inflight)
            self._inflight.clear()

    def done(self) -> None:
        with self._lock:
            self._inflight.clear()

    def idle(self) -> bool:
        with self._lock:
            return not (self._waiting or self._inflight)

    async def write(self, client: Any, cluster: bool) -> bool:
        with self._lock:
            counts = list(self._inflight.items())
        if cluster:  # no pipeline: each count leaves the batch once it is applied
            results: list[Any] = []
            for (model, field), amount in counts:
                results.append(
                    await reply_or_error(client.hincrby(counts_key(model), field, amount))
                )
                with self._lock:
                    self._inflight.pop((model, field), None)
        else:
            pipe = client.pipeline(transaction=False)
            for (model, field), amount in counts:
                pipe.hincrby(counts_key(model), field, amount)
            results = await pipe.execute(raise_on_error=False)
        self._loop.mark_up()
        for failed in (r for r in results if isinstance(r, Exception)):
            EXPORTER.sink_error(self._loop.name)
            log.error("Redis rejected an audit-ledger count: %s", failed)
        return False
