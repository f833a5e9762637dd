"""Audit records to Redis without ever holding up a production request.

``emit`` only appends to a bounded in-memory buffer (when it is full the oldest record is
dropped and counted in ``grounding_sink_overflow_total{sink="redis"}``). A daemon thread runs its
own asyncio loop with one ``redis.asyncio`` client, so nothing here touches the server's loop. It
drains the buffer in order, in batches: one Lua script per record (pipelined), which atomically

- skips the record if its ``audit_id`` was written already (a retry after a reply that was
  lost on the way back must not count twice); a *reused* request id (another audit with the
  same id) keeps both records, counted in ``grounding_request_ids_reused_total`` and logged;
- ``XADD {grounding}:audits MAXLEN ~ <redis_stream_maxlen>`` with ``record.to_redis_fields()``;
- ``HSET {grounding}:audit:<request_id>`` with the same fields (the latest record of the id) and
  ``EXPIRE <record_ttl_s>``;
- updates the drift monitor's counters, time buckets and CUSUM (``DriftMonitor``).

``count`` keeps the audit ledger that a process which dies cannot report: how many audits were
mirrored and how many dropped (and records lost from this buffer) are added with ``HINCRBY`` to
``{grounding}:drift:<model>:counts`` beside the ``audits`` total the record script keeps, so
``/stats`` shows audits mirrored but neither recorded nor dropped (queued now, or lost with a
killed worker). Counts wait in memory while Redis is away, like records.

On a connection error the batch goes back to the front of the buffer,
``grounding_sink_errors_total{sink="redis"}`` is incremented and the writer backs off
exponentially (0.1 s doubling to 5 s) before it retries; once Redis answers again the buffered
records are written in their original order. Records carry no image bytes (only the keyed
``image_id``), and question/output text only when the operator turned ``retain_text`` on.

The same loop serves the record store and ``/stats`` through ``call``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import threading
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from audits.contracts.records import AuditRecord
from service.settings import Settings
from service.telemetry.drift_monitor import DriftMonitor
from service.telemetry.prometheus import EXPORTER
from service.telemetry.redis_keys import (
    STREAM_KEY,
    connect,
    counts_key,
    is_cluster_url,
    record_ids_key,
    record_key,
)
from service.telemetry.redis_scripts import write_record_lua
from service.telemetry.stats_figures import RedisHealth

log = logging.getLogger(__name__)

T = TypeVar("T")

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
)


class RedisUnavailable(RuntimeError):
    """Redis did not answer (down, unreachable, too slow) or the sink is closed."""


class RedisSink:
    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        monitor: DriftMonitor,
        stream_maxlen: int = 100_000,
        record_ttl_s: int = 7 * 24 * 3600,
        buffer_size: int = 10_000,
        batch_size: int = 64,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 5.0,
        socket_timeout_s: float = 2.0,
    ) -> None:
        self.url = url
        self.monitor = monitor
        self.stream_maxlen = stream_maxlen
        self.record_ttl_s = record_ttl_s
        self.capacity = buffer_size
        self.batch_size = batch_size
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self._socket_timeout_s = socket_timeout_s
        self._buffer: deque[AuditRecord] = deque()
        self._inflight: list[AuditRecord] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        self._inflight_counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._overflowed = 0
        self._connected = False
        self._last_error: str | None = None
        self._closing = False
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="grounding-redis", daemon=True)
        self._thread.start()
        self._ready.wait()
        atexit.register(self._at_exit)

    @classmethod
    def from_settings(cls, settings: Settings, monitor: DriftMonitor) -> RedisSink:
        return cls(
            settings.redis_url,
            monitor=monitor,
            stream_maxlen=settings.redis_stream_maxlen,
            record_ttl_s=settings.record_ttl_s,
            buffer_size=settings.sink_buffer_size,
        )

    # -- producer side (any thread) --------------------------------------------------------------
    def emit(self, record: AuditRecord) -> None:
        with self._lock:
            if self._closed:
                self._count_overflow(1, record.model)
                return
            if len(self._buffer) >= self.capacity:
                self._count_overflow(1, self._buffer.popleft().model)
            self._buffer.append(record)
        self._wake()

    def count(self, model: str, field: str, amount: int = 1) -> None:
        """Add to the audit ledger of ``model`` in Redis (``mirrored``, ``dropped``); never
        blocks."""
        with self._lock:
            self._counts[(model, field)] += amount
        self._wake()

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

    @property
    def connected(self) -> bool:
        return self._connected

    def health(self) -> RedisHealth:
        return RedisHealth(
            connected=self._connected,
            buffered=self.buffered,
            overflowed=self._overflowed,
            last_error=self._last_error,
        )

    def flush(self, timeout: float) -> bool:
        """Wait until every emitted record is in Redis; False if that took longer than timeout."""
        with self._idle:
            return self._idle.wait_for(self._drained, timeout=timeout)

    def _drained(self) -> bool:
        return not (self._buffer or self._inflight or self._counts or self._inflight_counts)

    def close(self, timeout: float = 5.0) -> bool:
        """Flush for up to ``timeout`` seconds, then stop; True when nothing was left behind."""
        if self._closed:
            return True
        flushed = self.flush(timeout)
        with self._lock:
            self._closed = True
            self._closing = True
            left = len(self._buffer) + len(self._inflight)
        if left:
            log.warning("closing the Redis sink with %d records not written", left)
        self._wake()
        self._thread.join(timeout=max(1.0, self._socket_timeout_s + 1.0))
        atexit.unregister(self._at_exit)
        return flushed

    async def call(self, fn: Callable[[Any], Awaitable[T]], timeout: float = 2.0) -> T:
        """Run ``fn(client)`` on the sink's loop and await it from any other loop."""
        try:
            future = self._submit(fn)
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except (TimeoutError, *CONNECTION_ERRORS, RuntimeError) as exc:
            raise RedisUnavailable(str(exc) or type(exc).__name__) from exc

    def call_sync(self, fn: Callable[[Any], Awaitable[T]], timeout: float = 2.0) -> T:
        try:
            return self._submit(fn).result(timeout)
        except (*CONNECTION_ERRORS, concurrent.futures.TimeoutError, RuntimeError) as exc:
            raise RedisUnavailable(str(exc) or type(exc).__name__) from exc

    # -- internals -----------------------------------------------------------------------------
    def _count_overflow(self, count: int, model: str) -> None:
        """Records lost from the buffer (the caller holds the lock)."""
        self._overflowed += count
        self._counts[(model, "overflowed")] += count
        EXPORTER.sink_overflow(self.name, count)

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed
            self._loop.call_soon_threadsafe(self._wakeup.set)

    def _submit(self, fn: Callable[[Any], Awaitable[T]]) -> concurrent.futures.Future[T]:
        if self._closed:
            raise RedisUnavailable("the Redis sink is closed")

        async def guarded() -> T:
            try:
                result = await fn(self._client)
            except CONNECTION_ERRORS as exc:
                self._mark_down(exc)
                raise
            self._mark_up()
            return result

        return asyncio.run_coroutine_threadsafe(guarded(), self._loop)

    def _mark_up(self) -> None:
        """Redis answered: ``/stats`` stops showing the error of an outage that is over."""
        self._connected = True
        self._last_error = None

    def _mark_down(self, exc: BaseException) -> None:
        self._connected = False
        self._last_error = f"{type(exc).__name__}: {exc}"

    def _at_exit(self) -> None:
        self.close(timeout=2.0)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._client = connect(
            self.url,
            socket_connect_timeout=min(1.0, self._socket_timeout_s),
            socket_timeout=self._socket_timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._client.register_script(write_record_lua())
        self._wakeup = asyncio.Event()
        self._ready.set()
        try:
            self._loop.run_until_complete(self._writer())
        finally:
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(self._client.aclose())
            self._loop.close()

    def _take_batch(self) -> tuple[list[AuditRecord], Counter[tuple[str, str]]]:
        with self._lock:
            while self._buffer and len(self._inflight) < self.batch_size:
                self._inflight.append(self._buffer.popleft())
            self._inflight_counts.update(self._counts)
            self._counts.clear()
            return list(self._inflight), Counter(self._inflight_counts)

    def _put_back(self) -> None:
        """Return the in-flight batch to the front; the oldest go if the buffer has no room."""
        with self._idle:
            for record in reversed(self._inflight):
                if len(self._buffer) >= self.capacity:
                    self._count_overflow(1, record.model)
                else:
                    self._buffer.appendleft(record)
            self._inflight.clear()
            self._counts.update(self._inflight_counts)
            self._inflight_counts.clear()
            self._idle.notify_all()

    def _done(self) -> None:
        with self._idle:
            self._inflight.clear()
            self._inflight_counts.clear()
            self._idle.notify_all()

    async def _writer(self) -> None:
        delay = self.backoff_min_s
        while True:
            batch, counts = self._take_batch()
            if not batch and not counts:
                if self._closing:
                    return
                self._wakeup.clear()
                if self.buffered == 0 and not self._counts and not self._closing:
                    await self._wakeup.wait()
                continue
            if self._closing:
                self._put_back()
                return
            try:
                retry = await self._write(batch, counts)
            except CONNECTION_ERRORS as exc:
                retry = True
                self._mark_down(exc)
                EXPORTER.sink_error(self.name)
                log.warning("Redis write failed (%s); %d records buffered", exc, self.buffered)
            except Exception as exc:  # a bug or a broken server: drop, count, keep going
                retry = False
                EXPORTER.sink_error(self.name, len(batch))
                log.exception("Redis write of %d records failed; dropped", len(batch))
                self._last_error = f"{type(exc).__name__}: {exc}"
            if retry:
                self._put_back()
                await self._sleep(delay)
                delay = min(self.backoff_max_s, delay * 2)
            else:
                self._done()
                delay = self.backoff_min_s

    async def _sleep(self, seconds: float) -> None:
        """Back off, but wake early to finish quickly when the sink is closing."""
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing_wait(), seconds)

    async def _closing_wait(self) -> None:
        while not self._closing:
            await self._wakeup.wait()
            self._wakeup.clear()

    def _script_input(self, record: AuditRecord) -> tuple[list[str], list[str]]:
        fields = record.to_redis_fields()
        drift_keys, drift_args = self.monitor.update_plan(record)
        request_id = record.request_id
        keys = [STREAM_KEY, record_key(request_id), record_ids_key(request_id), *drift_keys]
        args = [str(self.stream_maxlen), str(self.record_ttl_s), record.audit_id, str(len(fields))]
        for field, value in fields.items():
            args += [field, value]
        return keys, args + drift_args

    async def _write_one_by_one(
        self, batch: list[AuditRecord], counts: Counter[tuple[str, str]]
    ) -> list[Any]:
        """A Redis Cluster pipeline runs no scripts, so each command goes on its own, in order
        (every key is in the one ``{grounding}`` slot, so they all reach the same node)."""
        results: list[Any] = []
        for (model, field), amount in counts.items():
            results.append(await _reply(self._client.hincrby(counts_key(model), field, amount)))
            with self._lock:
                self._inflight_counts.pop((model, field), None)
        for record in batch:
            keys, args = self._script_input(record)
            results.append(await _reply(self._script(keys=keys, args=args)))
        return results

    async def _write(self, batch: list[AuditRecord], counts: Counter[tuple[str, str]]) -> bool:
        """Write the ledger counts and the batch; True if it must be retried (the script
        vanished from the server)."""
        if is_cluster_url(self.url):
            results = await self._write_one_by_one(batch, counts)
        else:
            pipe = self._client.pipeline(transaction=False)
            for (model, field), amount in counts.items():
                pipe.hincrby(counts_key(model), field, amount)
            for record in batch:
                keys, args = self._script_input(record)
                await self._script(keys=keys, args=args, client=pipe)
            results = await pipe.execute(raise_on_error=False)
            with self._lock:
                self._inflight_counts.clear()  # applied: a retried batch must not add them again
        self._mark_up()
        for failed in (r for r in results[: len(counts)] if isinstance(r, Exception)):
            EXPORTER.sink_error(self.name)
            log.error("Redis rejected an audit-ledger count: %s", failed)
        retry = False
        for record, result in zip(batch, results[len(counts) :], strict=True):
            if isinstance(result, NoScriptError):
                retry = True
            elif isinstance(result, Exception):
                EXPORTER.sink_error(self.name)
                log.error("Redis rejected the record %s: %s", record.request_id, result)
            elif result:
                status, *drift = result
                if status == "reused":
                    EXPORTER.request_id_reused(record.model)
                    log.warning(
                        "request id %s was used again; both audit records are kept (the stream "
                        "has both, GET /audits/{id} answers the latest)",
                        record.request_id,
                    )
                try:
                    await self.monitor.after_update(self._client, record, drift)
                except CONNECTION_ERRORS as exc:  # the next record's result retries the freeze
                    self._mark_down(exc)
                    log.warning("drift follow-up for %s failed: %s", record.model, exc)
                except Exception:
                    log.exception("drift follow-up for %s failed", record.model)
        if retry:  # a restarted server, or a cluster pipeline (it does not load scripts itself)
            await self._client.script_load(self._script.script)
        return retry


async def _reply(command: Awaitable[T]) -> T | ResponseError:
    """The reply, or the error Redis answered with (connection errors still raise)."""
    try:
        return await command
    except ResponseError as exc:
        return exc
