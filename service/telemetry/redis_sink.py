"""Audit records to Redis without ever holding up a production request.

``emit`` only appends to a bounded in-memory buffer (when it is full the oldest record is
dropped, counted in ``grounding_sink_overflow_total{sink="redis"}`` and in the audit ledger as
``overflowed``). The buffer is an outbox of the ``RedisLoop``: its writer drains it in order, in
batches, one ``write_record`` script per record (``service.telemetry.record_script``), pipelined
(one by one on a Redis Cluster, whose pipelines run no scripts); on a connection error the batch
goes back to the front and waits for Redis.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from redis.exceptions import NoScriptError

from audits.contracts.audit_record import AuditRecord
from service.telemetry.ledger import LedgerCounts
from service.telemetry.prometheus import EXPORTER
from service.telemetry.record_script import RecordScript
from service.telemetry.redis_loop import CONNECTION_ERRORS, RedisLoop, reply_or_error

log = logging.getLogger(__name__)


class RedisSink:
    name = "redis"

    def __init__(
        self,
        loop: RedisLoop,
        script: RecordScript,
        ledger: LedgerCounts,
        *,
        buffer_size: int = 10_000,
        batch_size: int = 64,
    ) -> None:
        self._loop = loop
        self.script = script
        self._ledger = ledger
        self.capacity = buffer_size
        self.batch_size = batch_size
        self._buffer: deque[AuditRecord] = deque()
        self._inflight: list[AuditRecord] = []
        self._lock = threading.Lock()
        self._overflowed = 0
        self._closed = False
        self._lua = loop.client.register_script(script.source)
        loop.add(self)

    # -- producer side (any thread) --------------------------------------------------------------
    def emit(self, record: AuditRecord) -> None:
        with self._lock:
            if self._closed:
                self._count_overflow(1, record.model)
                return
            if len(self._buffer) >= self.capacity:
                self._count_overflow(1, self._buffer.popleft().model)
            self._buffer.append(record)
        self._loop.wake()

    def pending(self, request_id: str) -> AuditRecord | None:
        """A record of this replica that is buffered and not yet in Redis."""
        with self._lock:
            for record in reversed((*self._inflight, *self._buffer)):
                if record.request_id == request_id:
                    return record
        return None

    @property
    def buffered(self) -> int:
        with self._lock:
            return len(self._buffer) + len(self._inflight)

    @property
    def overflowed(self) -> int:
        return self._overflowed

    def close(self) -> int:
        """Take no more records (later ones count as overflowed); the records not written."""
        with self._lock:
            self._closed = True
            left = len(self._buffer) + len(self._inflight)
        if left:
            log.warning("closing the Redis sink with %d records not written", left)
        return left

    def _count_overflow(self, count: int, model: str) -> None:
        """Records lost from the buffer (the caller holds the lock)."""
        self._overflowed += count
        self._ledger.count(model, "overflowed", count)
        EXPORTER.sink_overflow(self.name, count)

    # -- the outbox (the Redis loop) -------------------------------------------------------------
    def take(self) -> int:
        with self._lock:
            while self._buffer and len(self._inflight) < self.batch_size:
                self._inflight.append(self._buffer.popleft())
            return len(self._inflight)

    def restore(self) -> None:
        """The batch in flight back to the front; the oldest go if the buffer has no room."""
        with self._lock:
            for record in reversed(self._inflight):
                if len(self._buffer) >= self.capacity:
                    self._count_overflow(1, record.model)
                else:
                    self._buffer.appendleft(record)
            self._inflight.clear()

    def done(self) -> None:
        with self._lock:
            self._inflight.clear()

    def idle(self) -> bool:
        with self._lock:
            return not (self._buffer or self._inflight)

    async def write(self, client: Any, cluster: bool) -> bool:
        """Write the batch in flight; True if it must be retried (the script vanished from the
        server: a restarted server, or a cluster node that never loaded it)."""
        with self._lock:
            batch = list(self._inflight)
        if cluster:  # every key is in the one {grounding} slot: all reach the same node, in order
            results: list[Any] = []
            for record in batch:
                keys, args = self.script.inputs(record)
                results.append(await reply_or_error(self._lua(keys=keys, args=args)))
        else:
            pipe = client.pipeline(transaction=False)
            for record in batch:
                keys, args = self.script.inputs(record)
                await self._lua(keys=keys, args=args, client=pipe)
            results = await pipe.execute(raise_on_error=False)
        self._loop.mark_up()
        retry = False
        for record, result in zip(batch, results, strict=True):
            if isinstance(result, NoScriptError):
                retry = True
            elif isinstance(result, Exception):
                EXPORTER.sink_error(self.name)
                log.error("Redis rejected the record %s: %s", record.request_id, result)
            elif result:
                try:
                    await self.script.after_write(client, record, result)
                except CONNECTION_ERRORS as exc:  # the next record's result retries the freeze
                    self._loop.mark_down(exc)
                    log.warning("drift follow-up for %s failed: %s", record.model, exc)
                except Exception:
                    log.exception("drift follow-up for %s failed", record.model)
        if retry:
            await client.script_load(self._lua.script)
        return retry
