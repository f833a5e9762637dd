"""The thread that talks to Redis: one ``redis.asyncio`` client on an asyncio loop of its own,
so nothing here touches the server's loop.

Two kinds of work run on it:

- ``call`` / ``call_sync``: ``fn(client)`` for any other loop or thread (the record store,
  ``/stats``, baseline administration); ``RedisUnavailable`` when Redis does not answer in time;
- the writer: it drains the outboxes (the audit ledger, then the record sink) a batch at a time,
  in the order they were added. On a connection error the batch goes back to the front of its
  outbox, ``grounding_sink_errors_total{sink="redis"}`` is incremented and the writer backs off
  exponentially (0.1 s doubling to 5 s) before it retries; once Redis answers again what waited
  is written in its original order. A batch that fails otherwise (a bug, a broken server) is
  counted in the same metric and dropped.

``connected`` and ``last_error`` say how the last command went (the error is cleared as soon as
Redis answers again).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.telemetry.prometheus import EXPORTER
from service.telemetry.redis_keys import connect, is_cluster_url

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
    """Redis did not answer (down, unreachable, too slow) or the loop is closed."""


class Outbox(Protocol):
    """What the writer drains: a buffer written to Redis a batch at a time (any thread may add
    to it; ``take``, ``write``, ``restore`` and ``done`` run on the loop)."""

    name: str

    def take(self) -> int:
        """Put the next batch in flight; its size (0: nothing to write)."""

    async def write(self, client: Any, cluster: bool) -> bool:
        """Write the batch in flight (and mark the loop up once Redis answered); True when it
        must be written again. Connection errors propagate."""

    def restore(self) -> None:
        """The batch in flight goes back to the front (Redis did not answer)."""

    def done(self) -> None:
        """The batch in flight is written, or given up."""

    def idle(self) -> bool:
        """Nothing waiting and nothing in flight."""


class RedisLoop:
    name = "redis"
    """The ``sink`` label of the write errors counted here."""

    def __init__(
        self,
        url: str,
        *,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 5.0,
        socket_timeout_s: float = 2.0,
    ) -> None:
        self.url = url
        self.cluster = is_cluster_url(url)
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self._socket_timeout_s = socket_timeout_s
        self._outboxes: list[Outbox] = []
        self._idle = threading.Condition()
        self.connected = False
        self.last_error: str | None = None
        self._closing = False
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="grounding-redis", daemon=True)
        self._thread.start()
        self._ready.wait()
        atexit.register(self._at_exit)

    @property
    def client(self) -> Any:
        return self._client

    @property
    def closed(self) -> bool:
        return self._closed

    def add(self, outbox: Outbox) -> None:
        """Drain ``outbox`` too, after the ones added before it."""
        self._outboxes.append(outbox)
        self.wake()

    def wake(self) -> None:
        """Something was added to an outbox (any thread)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed
            self._loop.call_soon_threadsafe(self._wakeup.set)

    def mark_up(self) -> None:
        """Redis answered: ``/stats`` stops showing the error of an outage that is over."""
        self.connected = True
        self.last_error = None

    def mark_down(self, exc: BaseException) -> None:
        self.connected = False
        self.last_error = f"{type(exc).__name__}: {exc}"

    def flush(self, timeout: float) -> bool:
        """Wait until every outbox is written; False if that took longer than ``timeout``."""
        with self._idle:
            return self._idle.wait_for(self._drained, timeout=timeout)

    def _drained(self) -> bool:
        return all(outbox.idle() for outbox in self._outboxes)

    def close(self, timeout: float = 5.0) -> bool:
        """Flush for up to ``timeout`` seconds, then stop; True when everything was written."""
        if self._closed:
            return True
        flushed = self.flush(timeout)
        self._closed = True
        self._closing = True
        self.wake()
        self._thread.join(timeout=max(1.0, self._socket_timeout_s + 1.0))
        atexit.unregister(self._at_exit)
        return flushed

    async def call(self, fn: Callable[[Any], Awaitable[T]], timeout: float = 2.0) -> T:
        """Run ``fn(client)`` on this loop and await it from any other loop."""
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
    def _submit(self, fn: Callable[[Any], Awaitable[T]]) -> concurrent.futures.Future[T]:
        if self._closed:
            raise RedisUnavailable("the Redis loop is closed")

        async def guarded() -> T:
            try:
                result = await fn(self._client)
            except CONNECTION_ERRORS as exc:
                self.mark_down(exc)
                raise
            self.mark_up()
            return result

        return asyncio.run_coroutine_threadsafe(guarded(), self._loop)

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
        self._wakeup = asyncio.Event()
        self._ready.set()
        try:
            self._loop.run_until_complete(self._writer())
        finally:
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(self._client.aclose())
            self._loop.close()

    def _settled(self, outbox: Outbox, written: bool) -> None:
        """The batch in flight is done (or goes back); wake ``flush``."""
        with self._idle:
            if written:
                outbox.done()
            else:
                outbox.restore()
            self._idle.notify_all()

    async def _writer(self) -> None:
        delay = self.backoff_min_s
        while True:
            worked = failed = False
            for outbox in list(self._outboxes):
                size = outbox.take()
                if not size:
                    continue
                worked = True
                if self._closing:
                    self._settled(outbox, written=False)
                    return
                retry = await self._write(outbox, size)
                self._settled(outbox, written=not retry)
                if retry:
                    failed = True
                    break
            if failed:
                await self._sleep(delay)
                delay = min(self.backoff_max_s, delay * 2)
                continue
            if worked:
                delay = self.backoff_min_s
                continue
            if self._closing:
                return
            self._wakeup.clear()
            if self._drained() and not self._closing:
                await self._wakeup.wait()

    async def _write(self, outbox: Outbox, size: int) -> bool:
        """Write one batch; True when it must be retried."""
        try:
            return await outbox.write(self._client, self.cluster)
        except CONNECTION_ERRORS as exc:
            self.mark_down(exc)
            EXPORTER.sink_error(self.name)
            log.warning("Redis write of %s failed (%s); kept to retry", outbox.name, exc)
            return True
        except Exception as exc:  # a bug or a broken server: drop, count, keep going
            EXPORTER.sink_error(self.name, size)
            log.exception("Redis write of %d %s failed; dropped", size, outbox.name)
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False

    async def _sleep(self, seconds: float) -> None:
        """Back off, but wake early to finish quickly when the loop is closing."""
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing_wait(), seconds)

    async def _closing_wait(self) -> None:
        while not self._closing:
            await self._wakeup.wait()
            self._wakeup.clear()


async def reply_or_error(command: Awaitable[T]) -> T | ResponseError:
    """The reply, or the error Redis answered with (connection errors still raise)."""
    try:
        return await command
    except ResponseError as exc:
        return exc
