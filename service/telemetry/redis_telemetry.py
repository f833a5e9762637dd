"""The Redis side of telemetry, wired once per process: one loop and connection
(``redis_loop``), the audit ledger counts (``ledger``), the record sink (``redis_sink``) with
what each record write does (``record_script``: the record, its counters, its drift step).

It is what ``/stats`` and the record store call (``call``), what ``/stats`` shows as Redis
health, and what shutdown flushes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from service.settings import Settings
from service.telemetry.drift.monitor import DriftMonitor
from service.telemetry.ledger import LedgerCounts
from service.telemetry.record_script import RecordScript
from service.telemetry.redis_loop import RedisLoop
from service.telemetry.redis_sink import RedisSink
from service.telemetry.rolling_counts import RollingCounts
from service.telemetry.stats_figures import RedisHealth

T = TypeVar("T")


class RedisTelemetry:
    def __init__(
        self,
        url: str,
        *,
        windows_s: Sequence[int],
        min_audits: int,
        stream_maxlen: int = 100_000,
        record_ttl_s: int = 7 * 24 * 3600,
        buffer_size: int = 10_000,
        batch_size: int = 64,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 5.0,
        socket_timeout_s: float = 2.0,
    ) -> None:
        self.loop = RedisLoop(
            url,
            backoff_min_s=backoff_min_s,
            backoff_max_s=backoff_max_s,
            socket_timeout_s=socket_timeout_s,
        )
        self.ledger = LedgerCounts(self.loop)
        script = RecordScript(
            counts=RollingCounts(windows_s),
            drift=DriftMonitor(min_audits=min_audits),
            stream_maxlen=stream_maxlen,
            record_ttl_s=record_ttl_s,
        )
        self.sink = RedisSink(
            self.loop, script, self.ledger, buffer_size=buffer_size, batch_size=batch_size
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisTelemetry:
        return cls(
            settings.redis.url,
            windows_s=settings.audit.drift_windows_s,
            min_audits=settings.audit.drift_min_audits,
            stream_maxlen=settings.redis.stream_maxlen,
            record_ttl_s=settings.redis.record_ttl_s,
            buffer_size=settings.redis.sink_buffer_size,
        )

    async def call(self, fn: Callable[[Any], Awaitable[T]], timeout: float = 2.0) -> T:
        """Run ``fn(client)`` on the Redis loop; ``RedisUnavailable`` when Redis does not
        answer."""
        return await self.loop.call(fn, timeout)

    def health(self) -> RedisHealth:
        return RedisHealth(
            connected=self.loop.connected,
            buffered=self.sink.buffered,
            overflowed=self.sink.overflowed,
            last_error=self.loop.last_error,
        )

    def flush(self, timeout: float) -> bool:
        """Wait until every record and ledger count is in Redis; False if that took longer."""
        return self.loop.flush(timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Flush for up to ``timeout`` seconds, then stop; True when nothing was left behind."""
        if self.loop.closed:
            return True
        flushed = self.loop.flush(timeout)
        self.sink.close()
        self.loop.close(timeout=0)
        return flushed
