"""The Redis sink against a real redis-server (and a Redis Cluster): records land whole, once,
in order, without image bytes; outages and overflow; persistence through a kill -9."""

from __future__ import annotations

import base64
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis as redis_py

from audits.contracts.types import Condition, ConditionOutcome
from audits.science.audit_steps import ItemAuditResult
from audits.science.flags import compute_flags
from loadtests.processes import free_port
from service.identity import answer_fingerprint, image_id
from service.telemetry.record_builder import build_record
from service.telemetry.redis_keys import STREAM_KEY, counts_key, record_key
from tests.support.images import png_bytes
from tests.support.servers import REPO, RedisServer, wait_until
from tests.support.telemetry import (
    SCHEMA,
    SECRET,
    Target,
    counter,
    make_record,
    make_telemetry,
    redis_client,
    stream_entries,
)


def all_bytes(server: RedisServer) -> list[bytes]:
    """Every key name and every value stored, whatever the type."""
    raw = redis_py.Redis(port=server.port)
    out: list[bytes] = []
    for key in raw.scan_iter(count=1000):
        out.append(key)
        kind = raw.type(key).decode()
        if kind == "string":
            out.append(raw.get(key) or b"")
        elif kind == "hash":
            for field, value in raw.hgetall(key).items():
                out += [field, value]
        elif kind == "stream":
            for _, fields in raw.xrange(key):
                for field, value in fields.items():
                    out += [field, value]
        elif kind == "list":
            out += raw.lrange(key, 0, -1)
        elif kind == "set":
            out += list(raw.smembers(key))
        else:
            raise AssertionError(f"unexpected key type {kind} for {key!r}")
    raw.close()
    return out


def test_records_land_with_every_schema_field_and_a_ttl(
    target: Target, target_client: redis_py.Redis
) -> None:
    telemetry = make_telemetry(target.url, record_ttl_s=600)
    records = [make_record(i, i % 3 == 0) for i in range(30)]
    for rec in records:
        telemetry.sink.emit(rec)
    assert telemetry.flush(10)
    entries = stream_entries(target_client)
    assert [e["request_id"] for e in entries] == [r.request_id for r in records]
    for rec, entry in zip(records, entries, strict=True):
        assert set(SCHEMA) <= entry.keys()
        assert entry == rec.to_redis_fields()
        stored = target_client.hgetall(record_key(rec.request_id))
        assert stored == entry
        assert 590 <= target_client.ttl(record_key(rec.request_id)) <= 600
    assert entries[0]["flip_no_image"] == "" and entries[0]["flip_shuffled"] == "1"
    assert telemetry.health().connected and telemetry.health().buffered == 0
    telemetry.close()


def test_the_stream_is_capped_and_a_retried_record_is_not_counted_twice(
    target: Target, target_client: redis_py.Redis
) -> None:
    telemetry = make_telemetry(target.url, stream_maxlen=50)
    records = [make_record(i, i % 2 == 0) for i in range(600)]
    for record in records:
        telemetry.sink.emit(record)
    assert telemetry.flush(20)
    assert 50 <= target_client.xlen(STREAM_KEY) < 600, "approximate MAXLEN trims the stream"
    telemetry.sink.emit(records[5])  # the same audit again, as after a reply lost on the way back
    assert telemetry.flush(5)
    assert int(target_client.hget(counts_key("m"), "audits")) == 600
    telemetry.close()


def test_a_reused_request_id_keeps_both_records_and_counts_the_reuse(
    target: Target, target_client: redis_py.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = make_telemetry(target.url)
    reused_before = counter("grounding_request_ids_reused_total", model="m")
    first, second = make_record(7, True), make_record(7, False)
    assert first.request_id == second.request_id and first.audit_id != second.audit_id
    with caplog.at_level("WARNING", logger="service.telemetry.record_script"):
        for record in (first, second, second):  # the last one is a retry
            telemetry.sink.emit(record)
        assert telemetry.flush(10)
    assert [e["audit_id"] for e in stream_entries(target_client)] == [
        first.audit_id,
        second.audit_id,
    ]
    assert int(target_client.hget(counts_key("m"), "audits")) == 2
    assert target_client.hgetall(record_key(first.request_id)) == second.to_redis_fields()
    assert counter("grounding_request_ids_reused_total", model="m") == reused_before + 1
    assert "req-00007 was used again" in caplog.text
    telemetry.close()


def _audit_result(question_marker: str) -> ItemAuditResult:
    outcomes = {
        Condition.REAL: ConditionOutcome(
            condition=Condition.REAL, output=f"The radiograph shows an opacity. {question_marker}"
        ),
        Condition.SHUFFLED: ConditionOutcome(condition=Condition.SHUFFLED, output="no"),
        Condition.BLANK: ConditionOutcome(condition=Condition.BLANK, output="yes"),
    }
    flags = compute_flags(outcomes)
    return ItemAuditResult(outcomes=outcomes, flags=flags, timings_ms={}, duration_ms=3.0)


@pytest.mark.parametrize("retain_text", [False, True])
def test_no_image_bytes_anywhere_and_text_only_with_retention(
    redis: RedisServer, retain_text: bool
) -> None:
    image = png_bytes(11, (64, 64))
    question = "QMARK-7Q3 is there a pleural effusion on this film?"
    telemetry = make_telemetry(redis.url)
    for index in range(5):
        telemetry.sink.emit(
            build_record(
                request_id=f"text-{index}",
                model="m",
                image_id=image_id(image, SECRET),
                mode="generate",
                source="mirror",
                result=_audit_result("OUTMARK-9Z"),
                answer_fingerprints={Condition.REAL: answer_fingerprint("yes", SECRET)},
                question=question,
                retain_text=retain_text,
            )
        )
    assert telemetry.flush(10)
    telemetry.close()
    stored = all_bytes(redis)
    blob = b"\n".join(stored)
    assert len(stored) > 20
    assert b"\x89PNG" not in blob and b"\xff\xd8\xff" not in blob
    assert image not in blob and base64.b64encode(image)[:60] not in blob
    assert not re.search(rb"[A-Za-z0-9+/=]{200,}", blob), "no long base64 run"
    assert (b"QMARK-7Q3" in blob) is retain_text
    assert (b"OUTMARK-9Z" in blob) is retain_text
    if retain_text:
        record = redis_client(redis).hgetall(record_key("text-0"))
        assert record["question"] == question
        assert "OUTMARK-9Z" in record["output_real"]


def test_redis_outage_buffers_counts_errors_and_delivers_in_order(
    redis: RedisServer, client: redis_py.Redis
) -> None:
    errors_before = counter("grounding_sink_errors_total", sink="redis")
    telemetry = make_telemetry(redis.url)
    for i in range(10):
        telemetry.sink.emit(make_record(i, True))
    assert telemetry.flush(10)
    redis.stop()
    slowest = 0.0
    for i in range(10, 40):
        started = time.perf_counter()
        telemetry.sink.emit(make_record(i, i % 2 == 0))
        slowest = max(slowest, time.perf_counter() - started)
        time.sleep(0.005)
    assert slowest < 0.05, f"emit blocked for {slowest:.3f}s while Redis was down"
    assert wait_until(
        lambda: counter("grounding_sink_errors_total", sink="redis") > errors_before, 5, 0.05
    )
    assert not telemetry.flush(0.3)
    health = telemetry.health()
    assert not health.connected and health.buffered == 30 and health.last_error
    redis.start()  # a fresh, empty server on the same port
    assert telemetry.flush(10)
    entries = stream_entries(redis_client(redis))
    assert [e["request_id"] for e in entries] == [f"req-{i:05d}" for i in range(10, 40)]
    assert telemetry.health().connected
    assert telemetry.health().last_error is None, "the outage is over: /stats shows no stale error"
    telemetry.close()


def test_overflow_drops_the_oldest_and_counts_them(redis: RedisServer) -> None:
    overflow_before = counter("grounding_sink_overflow_total", sink="redis")
    redis.stop()
    telemetry = make_telemetry(redis.url, buffer_size=5)
    for i in range(12):
        telemetry.sink.emit(make_record(i, False))
    time.sleep(0.1)
    assert telemetry.sink.buffered + telemetry.sink.overflowed == 12
    redis.start()
    assert telemetry.flush(10)
    assert telemetry.sink.overflowed == 7
    assert counter("grounding_sink_overflow_total", sink="redis") - overflow_before == 7
    entries = stream_entries(redis_client(redis))
    assert [e["request_id"] for e in entries] == [f"req-{i:05d}" for i in range(7, 12)]
    telemetry.close()


def test_the_local_redis_keeps_every_record_through_a_kill_9(tmp_path: Path) -> None:
    """scripts/run.sh starts Redis with scripts/redis-local.conf (append-only file)."""
    repo = REPO
    conf = repo / "scripts" / "redis-local.conf"
    assert str(Path("scripts") / "redis-local.conf") in (repo / "scripts" / "run.sh").read_text()
    port = free_port()

    def spawn() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            ["redis-server", str(conf), "--port", str(port), "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis_py.Redis(port=port)
        assert wait_until(lambda: probe.ping(), 10), "redis-server did not start"
        probe.close()
        return process

    process = spawn()
    try:
        telemetry = make_telemetry(f"redis://127.0.0.1:{port}/0")
        records = [make_record(i, i % 3 == 0) for i in range(25)]
        for record in records:
            telemetry.sink.emit(record)
        assert telemetry.flush(10)
        telemetry.close()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        process = spawn()
        client = redis_py.Redis(port=port, decode_responses=True)
        assert [e["audit_id"] for e in stream_entries(client)] == [r.audit_id for r in records]
        assert client.hgetall(record_key(records[-1].request_id)) == records[-1].to_redis_fields()
        assert int(client.hget(counts_key("m"), "audits")) == 25
        client.close()
    finally:
        process.kill()
        process.wait(timeout=10)
