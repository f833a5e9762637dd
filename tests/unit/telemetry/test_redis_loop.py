"""The Redis loop without a server: calls fail fast as RedisUnavailable; a closed loop refuses."""

from __future__ import annotations

import pytest

from loadtests.processes import free_port
from service.telemetry.redis_loop import RedisLoop, RedisUnavailable


async def test_calls_to_a_redis_that_is_not_there_fail_fast_and_mark_it_down() -> None:
    loop = RedisLoop(f"redis://127.0.0.1:{free_port()}/0", socket_timeout_s=0.5)
    try:
        with pytest.raises(RedisUnavailable):
            await loop.call(lambda client: client.ping(), timeout=2.0)
        assert not loop.connected and loop.last_error
        with pytest.raises(RedisUnavailable):
            loop.call_sync(lambda client: client.ping(), timeout=2.0)
        assert loop.flush(0.1), "no outbox: nothing to wait for"
    finally:
        assert loop.close(timeout=0.1)
    assert loop.closed and loop.close()
    with pytest.raises(RedisUnavailable):
        await loop.call(lambda client: client.ping())
