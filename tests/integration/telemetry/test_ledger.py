"""The audit ledger in Redis: mirrored, recorded, dropped and what no process reported."""

from __future__ import annotations

from tests.support.servers import RedisServer
from tests.support.telemetry import make_reader, make_record, make_telemetry


async def test_the_audit_ledger_in_redis_shows_what_no_process_reported(
    redis: RedisServer,
) -> None:
    """mirrored - recorded - dropped: the audits a killed worker took with it stay visible."""
    reader = make_reader()
    telemetry = make_telemetry(redis.url, buffer_size=3)
    telemetry.ledger.count("m", "mirrored", 9)
    for i in range(4):
        telemetry.sink.emit(make_record(i, True))
        assert telemetry.flush(10)
    telemetry.ledger.count("m", "dropped", 2)  # e.g. queue_full
    assert telemetry.flush(10)
    stats = await reader.stats("m", redis=telemetry, records=[], queue_depth=0)
    assert stats["ledger"] == {"mirrored": 9, "recorded": 4, "dropped": 2, "unaccounted": 3}

    redis.stop()  # records lost from the sink's buffer are counted too, once Redis is back
    telemetry.ledger.count("m", "mirrored", 5)
    for i in range(4, 9):
        telemetry.sink.emit(make_record(i, False))
    redis.start()  # a fresh, empty server: the ledger starts again
    assert telemetry.flush(10)
    stats = await reader.stats("m", redis=telemetry, records=[], queue_depth=0)
    assert stats["ledger"] == {"mirrored": 5, "recorded": 3, "dropped": 2, "unaccounted": 0}
    telemetry.close()
