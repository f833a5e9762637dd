"""Redis telemetry against a real redis-server: records, outages, drift state, feedback, stats."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py
from PIL import Image, ImageStat
from prometheus_client import REGISTRY

from audits.contracts.backend import VLMInput
from audits.contracts.records import AuditRecord
from audits.contracts.types import ClaimSpan, Condition, ConditionOutcome, ItemFlags
from audits.science.drift import CusumState
from audits.science.flags import compute_flags
from audits.science.item_audit import ItemAuditResult
from loadtests.processes import free_port
from service.core import GroundingCore
from service.identity import answer_fingerprint, image_id
from service.settings import Settings
from service.telemetry import calibrate
from service.telemetry.drift.baseline import Baseline
from service.telemetry.drift_monitor import DriftMonitor
from service.telemetry.records import build_record
from service.telemetry.redis_keys import (
    STREAM_KEY,
    baseline_key,
    counts_key,
    cusum_key,
    feedback_key,
    record_key,
)
from service.telemetry.redis_sink import RedisSink
from service.telemetry.redis_store import RedisRecordStore
from service.telemetry.sinks import MemorySink
from service.telemetry.store import MemoryRecordStore
from tests.support.images import encode, png_bytes
from tests.support.servers import (
    RedisCluster,
    RedisServer,
    redis_cluster,
    redis_server,
    wait_until,
)

SECRET = "test-secret"
WINDOWS = [900, 3600, 86400]
SCHEMA = [
    "request_id",
    "ts",
    "model",
    "image_id",
    "mode",
    "conditions",
    "flip_shuffled",
    "flip_blank",
    "flip_no_image",
    "delta_logp_shuffled",
    "delta_logp_blank",
    "delta_logp_no_image",
    "visual_claims",
    "hvr",
    "modality_skeptic",
    "duration_ms",
]
CLAIM = ClaimSpan(start=0, end=7, text="opacity", category="finding", trigger="shows")


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def make_record(
    index: int,
    flip: bool | None,
    *,
    model: str = "m",
    ts: float | None = None,
    answers: tuple[str, str] = ("yes", "no"),
) -> AuditRecord:
    flips = {Condition.BLANK: index % 4 == 0}
    if flip is not None:
        flips[Condition.SHUFFLED] = flip
    invariant = not any(flips.values())
    claims = [CLAIM] if index % 2 else []
    return AuditRecord(
        request_id=f"req-{index:05d}",
        ts=time.time() if ts is None else ts,
        model=model,
        image_id=image_id(png_bytes(index % 7, (16, 16)), SECRET),
        mode="generate",
        conditions=[Condition.SHUFFLED, Condition.BLANK],
        flags=ItemFlags(
            flips=flips,
            delta_logp={Condition.SHUFFLED: 0.25},
            claim_spans=claims,
            visual_claim=bool(claims),
            image_invariant=invariant,
            hvr=bool(claims) and invariant,
        ),
        answer_fingerprints={
            Condition.REAL: answer_fingerprint(answers[0], SECRET),
            Condition.SHUFFLED: answer_fingerprint(answers[1], SECRET),
        },
        duration_ms=12.5,
    )


def make_sink(url: str, monitor: DriftMonitor | None = None, **options: float) -> RedisSink:
    return RedisSink(
        url,
        monitor=monitor or DriftMonitor(windows_s=WINDOWS, min_audits=20),
        stream_maxlen=int(options.pop("stream_maxlen", 10_000)),
        record_ttl_s=int(options.pop("record_ttl_s", 3600)),
        buffer_size=int(options.pop("buffer_size", 1000)),
        backoff_min_s=0.02,
        backoff_max_s=0.2,
        socket_timeout_s=1.0,
    )


@dataclass
class Target:
    """Where a telemetry test writes: one redis-server, or a three-master Redis Cluster."""

    url: str
    port: int
    cluster: bool

    def client(self) -> redis_py.Redis:
        if self.cluster:
            return redis_py.RedisCluster(host="127.0.0.1", port=self.port, decode_responses=True)
        return redis_py.Redis(port=self.port, decode_responses=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as running:
        yield running


@pytest.fixture(params=["single", "cluster"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "single":
        with redis_server(tmp_path) as server:
            yield Target(server.url, server.port, cluster=False)
    else:
        running: RedisCluster = request.getfixturevalue("cluster")
        running.flush()
        yield Target(running.url, running.ports[0], cluster=True)


@pytest.fixture
def target_client(target: Target) -> Iterator[redis_py.Redis]:
    connection = target.client()
    yield connection
    connection.close()


@pytest.fixture
def client(redis: RedisServer) -> Iterator[redis_py.Redis]:
    connection = redis_client(redis)
    yield connection
    connection.close()


def redis_client(server: RedisServer) -> redis_py.Redis:
    return redis_py.Redis(port=server.port, decode_responses=True)


def stream_entries(client: redis_py.Redis) -> list[dict[str, str]]:
    return [fields for _, fields in client.xrange(STREAM_KEY)]


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


# --- records -----------------------------------------------------------------------------------


def test_records_land_with_every_schema_field_and_a_ttl(
    target: Target, target_client: redis_py.Redis
) -> None:
    sink = make_sink(target.url, record_ttl_s=600)
    records = [make_record(i, i % 3 == 0) for i in range(30)]
    for rec in records:
        sink.emit(rec)
    assert sink.flush(10)
    entries = stream_entries(target_client)
    assert [e["request_id"] for e in entries] == [r.request_id for r in records]
    for rec, entry in zip(records, entries, strict=True):
        assert set(SCHEMA) <= entry.keys()
        assert entry == rec.to_redis_fields()
        stored = target_client.hgetall(record_key(rec.request_id))
        assert stored == entry
        assert 590 <= target_client.ttl(record_key(rec.request_id)) <= 600
    assert entries[0]["flip_no_image"] == "" and entries[0]["flip_shuffled"] == "1"
    assert sink.health().connected and sink.health().buffered == 0
    sink.close()


def test_the_stream_is_capped_and_a_retried_record_is_not_counted_twice(
    target: Target, target_client: redis_py.Redis
) -> None:
    sink = make_sink(target.url, stream_maxlen=50)
    records = [make_record(i, i % 2 == 0) for i in range(600)]
    for record in records:
        sink.emit(record)
    assert sink.flush(20)
    assert 50 <= target_client.xlen(STREAM_KEY) < 600, "approximate MAXLEN trims the stream"
    sink.emit(records[5])  # the same audit again, as after a reply lost on the way back
    assert sink.flush(5)
    assert int(target_client.hget(counts_key("m"), "audits")) == 600
    sink.close()


def test_a_reused_request_id_keeps_both_records_and_counts_the_reuse(
    target: Target, target_client: redis_py.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    sink = make_sink(target.url)
    reused_before = counter("grounding_request_ids_reused_total", model="m")
    first, second = make_record(7, True), make_record(7, False)
    assert first.request_id == second.request_id and first.audit_id != second.audit_id
    with caplog.at_level("WARNING", logger="service.telemetry.redis_sink"):
        for record in (first, second, second):  # the last one is a retry
            sink.emit(record)
        assert sink.flush(10)
    assert [e["audit_id"] for e in stream_entries(target_client)] == [
        first.audit_id,
        second.audit_id,
    ]
    assert int(target_client.hget(counts_key("m"), "audits")) == 2
    assert target_client.hgetall(record_key(first.request_id)) == second.to_redis_fields()
    assert counter("grounding_request_ids_reused_total", model="m") == reused_before + 1
    assert "req-00007 was used again" in caplog.text
    sink.close()


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
    sink = make_sink(redis.url)
    for index in range(5):
        sink.emit(
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
    assert sink.flush(10)
    sink.close()
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


# --- outages -----------------------------------------------------------------------------------


def test_redis_outage_buffers_counts_errors_and_delivers_in_order(
    redis: RedisServer, client: redis_py.Redis
) -> None:
    errors_before = counter("grounding_sink_errors_total", sink="redis")
    sink = make_sink(redis.url)
    for i in range(10):
        sink.emit(make_record(i, True))
    assert sink.flush(10)
    redis.stop()
    slowest = 0.0
    for i in range(10, 40):
        started = time.perf_counter()
        sink.emit(make_record(i, i % 2 == 0))
        slowest = max(slowest, time.perf_counter() - started)
        time.sleep(0.005)
    assert slowest < 0.05, f"emit blocked for {slowest:.3f}s while Redis was down"
    assert wait_until(
        lambda: counter("grounding_sink_errors_total", sink="redis") > errors_before, 5, 0.05
    )
    assert not sink.flush(0.3)
    health = sink.health()
    assert not health.connected and health.buffered == 30 and health.last_error
    redis.start()  # a fresh, empty server on the same port
    assert sink.flush(10)
    entries = stream_entries(redis_client(redis))
    assert [e["request_id"] for e in entries] == [f"req-{i:05d}" for i in range(10, 40)]
    assert sink.health().connected
    assert sink.health().last_error is None, "the outage is over: /stats shows no stale error"
    sink.close()


def test_overflow_drops_the_oldest_and_counts_them(redis: RedisServer) -> None:
    overflow_before = counter("grounding_sink_overflow_total", sink="redis")
    redis.stop()
    sink = make_sink(redis.url, buffer_size=5)
    for i in range(12):
        sink.emit(make_record(i, False))
    time.sleep(0.1)
    assert sink.buffered + sink.overflowed == 12
    redis.start()
    assert sink.flush(10)
    assert sink.overflowed == 7
    assert counter("grounding_sink_overflow_total", sink="redis") - overflow_before == 7
    entries = stream_entries(redis_client(redis))
    assert [e["request_id"] for e in entries] == [f"req-{i:05d}" for i in range(7, 12)]
    sink.close()


async def test_the_audit_ledger_in_redis_shows_what_no_process_reported(
    redis: RedisServer,
) -> None:
    """mirrored - recorded - dropped: the audits a killed worker took with it stay visible."""
    monitor = DriftMonitor(windows_s=WINDOWS, min_audits=20)
    sink = make_sink(redis.url, monitor, buffer_size=3)
    sink.count("m", "mirrored", 9)
    for i in range(4):
        sink.emit(make_record(i, True))
        assert sink.flush(10)
    sink.count("m", "dropped", 2)  # e.g. queue_full
    assert sink.flush(10)
    stats = await monitor.stats("m", redis=sink, records=[], queue_depth=0)
    assert stats["ledger"] == {"mirrored": 9, "recorded": 4, "dropped": 2, "unaccounted": 3}

    redis.stop()  # records lost from the sink's buffer are counted too, once Redis is back
    sink.count("m", "mirrored", 5)
    for i in range(4, 9):
        sink.emit(make_record(i, False))
    redis.start()  # a fresh, empty server: the ledger starts again
    assert sink.flush(10)
    stats = await monitor.stats("m", redis=sink, records=[], queue_depth=0)
    assert stats["ledger"] == {"mirrored": 5, "recorded": 3, "dropped": 2, "unaccounted": 0}
    sink.close()


async def test_stats_and_store_answer_with_redis_down() -> None:
    port = free_port()  # nothing listens here
    monitor = DriftMonitor(windows_s=WINDOWS, min_audits=20)
    sink = make_sink(f"redis://127.0.0.1:{port}/0", monitor)
    memory = MemorySink()
    for i in range(8):
        rec = make_record(i, i < 3)
        memory.emit(rec)
        sink.emit(rec)
    store = RedisRecordStore(sink, SECRET, fallback=MemoryRecordStore(memory, SECRET))
    started = time.perf_counter()
    stats = await monitor.stats("m", redis=sink, records=memory.records, queue_depth=2)
    assert time.perf_counter() - started < 3
    assert stats["source"] == "local"
    assert stats["redis"]["connected"] is False and stats["redis"]["buffered"] == 8
    assert stats["counts"]["audits"] == 8
    assert stats["windows"]["15m"]["IS"]["k"] == 3 and stats["windows"]["15m"]["IS"]["n"] == 8
    assert stats["drift"]["status"] == "insufficient_data"
    assert stats["audit_queue_depth"] == 2
    found = await store.get("req-00001")
    assert found is not None and found["request_id"] == "req-00001"
    assert await store.get("missing") is None
    assert await store.add_feedback("req-00001", "yes") == {
        Condition.REAL: True,
        Condition.SHUFFLED: False,
    }
    sink.close(timeout=0.2)


# --- drift shared by replicas --------------------------------------------------------------------


def _emit_from(sink: RedisSink, records: list[AuditRecord]) -> None:
    for rec in records:
        sink.emit(rec)
        time.sleep(0.0005)


async def _calibrate_async(url: str, *argv: str) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    calibrate.register(parser)
    args = parser.parse_args(["--redis-url", url, "--model", "m", "--min-audits", "20", *argv])
    return await calibrate.calibrate(args, url, 20)


def _calibrate(url: str, *argv: str) -> dict[str, Any]:
    return asyncio.run(_calibrate_async(url, *argv))


async def test_two_replicas_share_one_cusum_and_the_same_windows(
    target: Target, target_client: redis_py.Redis
) -> None:
    rng = random.Random(7)
    flips = [rng.random() < 0.45 for _ in range(200)] + [rng.random() < 0.1 for _ in range(300)]
    records = [make_record(i, flip) for i, flip in enumerate(flips)]
    records.insert(50, make_record(9999, None))  # an audit whose shuffled run was skipped
    replicas = [make_sink(target.url), make_sink(target.url)]
    threads = [
        threading.Thread(target=_emit_from, args=(replica, records[i::2]))
        for i, replica in enumerate(replicas)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(replica.flush(20) for replica in replicas)

    in_order = [e["flip_shuffled"] for e in stream_entries(target_client)]
    known = [int(x) for x in in_order if x != ""]
    assert len(known) == 500
    baseline = Baseline.from_hash(target_client.hgetall(baseline_key("m")))
    assert baseline is not None and baseline.source == "auto" and baseline.n == 20
    assert baseline.rate == sum(known[:20]) / 20
    expected = baseline.detector().update_many(CusumState(), known[20:])
    stored = CusumState.from_hash(target_client.hgetall(cusum_key("m")))
    assert stored == expected, "the Lua CUSUM equals the pure recursion in stream order"
    assert stored.alarm, "a drop from 0.45 to 0.10 over 300 audits raises the alarm"

    views = [
        await replica.monitor.stats("m", redis=replica, records=[], queue_depth=0)
        for replica in replicas
    ]
    for view in views:
        del view["as_of"], view["redis"]
    assert views[0] == views[1]
    stats = views[0]
    assert stats["source"] == "redis"
    assert stats["counts"]["audits"] == 501 and stats["counts"]["conditions_run"]["blank"] == 501
    window = stats["windows"]["15m"]
    assert window["IS"]["n"] == 500 and window["IS"]["k"] == sum(known)
    assert window["IS"]["lo"] < window["IS"]["value"] < window["IS"]["hi"]
    assert window["claim_rate"]["n"] == 501
    assert stats["drift"]["status"] == "alarm" and stats["drift"]["n"] == 480
    assert stats["drift"]["statistic"] == expected.statistic
    assert REGISTRY.get_sample_value("grounding_is_drift_alarm", {"model": "m"}) == 1
    assert REGISTRY.get_sample_value("grounding_is_drift_statistic", {"model": "m"}) == (
        expected.statistic
    )

    reset = await _calibrate_async(target.url, "--reset")
    assert reset["drift"]["alarm"] is False and reset["drift"]["n"] == 0
    assert reset["baseline"]["p0"] == baseline.p0, "a reset keeps the baseline"
    assert REGISTRY.get_sample_value("grounding_is_drift_alarm", {"model": "m"}) == 0
    for replica in replicas:
        replica.close()


def test_calibrate_sets_the_baseline_from_stream_report_or_number(
    target: Target, target_client: redis_py.Redis, tmp_path: Path
) -> None:
    sink = make_sink(target.url)
    flips = [i % 5 in (0, 1) for i in range(60)]  # rate 0.4
    sink.emit(make_record(999, True, model="other"))
    for i, flip in enumerate(flips):
        sink.emit(make_record(i, flip))
    assert sink.flush(10)

    first = _calibrate(target.url, "--from-first", "30")
    assert first["action"] == "set" and first["baseline"]["rate"] == pytest.approx(0.4)
    assert first["baseline"]["n"] == 30 and first["baseline"]["source"] == "first:30"
    assert target_client.exists(cusum_key("m")) == 0, "a new baseline restarts the CUSUM"
    with pytest.raises(calibrate.CalibrationError):
        _calibrate(target.url, "--from-first", "500")

    report = tmp_path / "report.json"
    overall = {"image_sensitivity": {"value": 0.482, "lo": 0.45, "hi": 0.51, "n": 900, "k": 434}}
    report.write_text(json.dumps({"title": "t", "metrics": {"overall": overall}}))
    from_report = _calibrate(target.url, "--from-report", str(report))
    assert from_report["baseline"]["p0"] == 0.482 and from_report["baseline"]["n"] == 900

    manual = _calibrate(target.url, "--baseline", "0.44")
    assert manual["baseline"]["p0"] == 0.44 and manual["baseline"]["source"] == "manual"
    stored = Baseline.from_hash(target_client.hgetall(baseline_key("m")))
    assert stored is not None and stored.h == Baseline.for_rate(0.44, source="x").h

    cleared = _calibrate(target.url, "--clear-baseline")
    assert cleared["baseline"] is None and cleared["drift"]["status"] == "insufficient_data"
    parser = argparse.ArgumentParser()
    calibrate.register(parser)
    bad = parser.parse_args(["--redis-url", target.url, "--model", "m", "--baseline", "1.5"])
    assert calibrate.run(bad) == 1
    sink.close()


# --- feedback ----------------------------------------------------------------------------------


async def test_feedback_is_stored_counted_once_and_feeds_online_accuracy(
    target: Target, target_client: redis_py.Redis
) -> None:
    monitor = DriftMonitor(windows_s=WINDOWS, min_audits=20)
    sink = make_sink(target.url, monitor)
    for i in range(25):
        sink.emit(make_record(i, True, answers=("yes", "no")))
    assert sink.flush(10)
    store = RedisRecordStore(sink, SECRET)

    first = await store.add_feedback("req-00000", "Yes.")
    assert first == {Condition.REAL: True, Condition.SHUFFLED: False}
    assert await store.add_feedback("req-00000", "yes") == first
    counters = target_client.hgetall(feedback_key("m"))
    assert counters == {
        "n": "1",
        "n_real": "1",
        "correct_real": "1",
        "n_shuffled": "1",
        "correct_shuffled": "0",
        "pair_10": "1",
    }
    stored = await store.get("req-00000")
    assert stored is not None
    assert stored["correct_real"] == "1" and stored["correct_shuffled"] == "0"
    assert stored["reference_fp"] == answer_fingerprint("yes", SECRET)

    changed = await store.add_feedback("req-00000", "no")
    assert changed == {Condition.REAL: False, Condition.SHUFFLED: True}
    counters = target_client.hgetall(feedback_key("m"))
    assert counters["n"] == "1" and counters["correct_real"] == "0"
    assert counters["correct_shuffled"] == "1" and counters["pair_01"] == "1"
    assert counters["pair_10"] == "0"
    assert await store.add_feedback("no-such-request", "yes") is None
    assert await store.get("no-such-request") is None

    for i in range(1, 25):
        await store.add_feedback(f"req-{i:05d}", "yes")
    stats = await monitor.stats("m", redis=sink, records=[], queue_depth=0)
    feedback = stats["feedback"]
    assert feedback["n"] == 25
    assert feedback["accuracy"]["real"]["k"] == 24 and feedback["accuracy"]["real"]["n"] == 25
    assert feedback["vrs"]["n"] == 25
    assert feedback["vrs"]["value"] == pytest.approx((24 - 1) / 25)
    sink.close()


# --- the service core, wired to Redis ------------------------------------------------------------


class BrightnessModel:
    """Answers from the image: "yes" for a bright image, "no" otherwise (blank gray is "no")."""

    model_name = "bright"

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        answers = []
        for item in items:
            bright = item.image is not None and ImageStat.Stat(item.image).mean[0] > 140
            answers.append("The image shows an opacity. Answer: yes" if bright else "Answer: no")
        return answers

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [0.0] * len(items)


def _solid_png(level: int) -> bytes:
    return encode(Image.new("RGB", (16, 16), (level, level, level)))


async def test_core_keeps_answering_through_a_redis_outage(redis: RedisServer) -> None:
    settings = Settings(
        redis_url=redis.url,
        model_name="bright",
        sample_rate=1.0,
        audit_mode="generate",
        drift_min_audits=5,
    )
    core = GroundingCore(settings, backend=BrightnessModel())
    assert isinstance(core.store, RedisRecordStore)
    sink = core.redis_sink
    assert sink is not None
    sink.backoff_max_s = 0.2

    async def request(index: int) -> None:
        level = 250 if index % 2 else 20
        production = core.build_request(
            _solid_png(level), "Is there an opacity?", request_id=f"core-{index:03d}"
        )
        response = await core.predict(production)
        assert response.answer == ("yes" if level > 140 else "no")
        core.after_response(production, response)

    for index in range(6):
        await request(index)
    assert wait_until(lambda: len(core.memory.records) == 6, 20, 0.05)
    assert sink.flush(10)
    redis.stop()
    for index in range(6, 12):
        await request(index)
    assert wait_until(lambda: len(core.memory.records) == 12, 20, 0.05)
    down = await core.stats()
    assert down["source"] == "local" and down["redis"]["connected"] is False
    assert down["counts"]["audits"] == 12
    redis.start()
    assert sink.flush(10)
    stored = stream_entries(redis_client(redis))
    assert [e["request_id"] for e in stored] == [f"core-{i:03d}" for i in range(6, 12)]
    up = await core.stats()
    assert up["source"] == "redis" and up["redis"]["connected"] is True
    assert up["counts"]["audits"] == 6 and up["windows"]["1h"]["IS"]["n"] >= 5
    record = await core.store.get("core-007")
    assert record is not None and record["model"] == "bright"
    shuffled_kept_the_answer = record["flip_shuffled"] == "0"
    assert await core.store.add_feedback("core-007", "yes") == {
        Condition.REAL: True,
        Condition.SHUFFLED: shuffled_kept_the_answer,
        Condition.BLANK: False,
        Condition.NO_IMAGE: False,
    }
    core.shutdown()
    sink.close()


RISK_ADJUSTED_COUNTERS = (
    "grounding_is_compared_audits_total",
    "grounding_is_compared_flips_total",
    "grounding_is_expected_flips_total",
    "grounding_is_expected_flips_variance_total",
)


def risk_adjusted_counts(model: str, modality: str) -> dict[str, float]:
    labels = {"model": model, "modality": modality}
    return {name: REGISTRY.get_sample_value(name, labels) or 0.0 for name in RISK_ADJUSTED_COUNTERS}


def stratified_traffic(
    model: str, rates_after: dict[tuple[str, str], float], seed: int
) -> list[AuditRecord]:
    """A warm-up of 120 audits, half closed CT questions (IS 0.7), half open MR ones (IS 0.1);
    then 400 audits of which 90% are open MR questions, flipping at ``rates_after``."""
    rng = random.Random(seed)
    rates = {("closed", "CT"): 0.7, ("open", "MR"): 0.1}
    warm = [("closed", "CT"), ("open", "MR")] * 60
    shifted = [("open", "MR") if rng.random() < 0.9 else ("closed", "CT") for _ in range(400)]
    records = []
    for index, (kind, modality) in enumerate(warm + shifted):
        rate = rates[(kind, modality)] if index < len(warm) else rates_after[(kind, modality)]
        records.append(
            make_record(index, rng.random() < rate, model=model).model_copy(
                update={"question_kind": kind, "modality": modality}
            )
        )
    return records


def observed_minus_expected(model: str, before: dict[str, dict[str, float]]) -> float:
    """z of the observed shuffled flips against the expected ones since ``before``."""
    delta = {
        name: sum(
            risk_adjusted_counts(model, modality)[name] - before[modality][name]
            for modality in ("CT", "MR")
        )
        for name in RISK_ADJUSTED_COUNTERS
    }
    observed = delta["grounding_is_compared_flips_total"]
    expected = delta["grounding_is_expected_flips_total"]
    return (observed - expected) / delta["grounding_is_expected_flips_variance_total"] ** 0.5


async def test_the_lua_cusum_is_case_mix_aware_and_equals_the_stratified_recursion(
    redis: RedisServer, client: redis_py.Redis
) -> None:
    """Warm-up per stratum, automatic freeze with per-stratum baselines, then traffic moves to
    open MR questions (low IS) with no change in the model: the shared CUSUM equals the
    stratified recursion in stream order and stays quiet, where the pooled one alarms; the
    exported observed and expected flips (the alerts' risk adjustment) agree."""
    records = stratified_traffic("m", {("closed", "CT"): 0.7, ("open", "MR"): 0.1}, seed=11)
    before = {modality: risk_adjusted_counts("m", modality) for modality in ("CT", "MR")}
    sink = make_sink(redis.url, DriftMonitor(windows_s=WINDOWS, min_audits=120))
    _emit_from(sink, records)
    assert sink.flush(30)

    entries = stream_entries(client)
    strata = [f"{e['question_kind']}|{e['modality']}" for e in entries]
    flips = [int(e["flip_shuffled"]) for e in entries]
    baseline = Baseline.from_hash(client.hgetall(baseline_key("m")))
    assert baseline is not None and set(baseline.strata) == {"closed|CT", "open|MR"}
    detector = baseline.stratified()
    expected = CusumState()
    for stratum, flip in zip(strata[120:], flips[120:], strict=True):
        expected = detector.update(expected, stratum, flip)
    stored = CusumState.from_hash(client.hgetall(cusum_key("m")))
    assert stored == expected, "the Lua CUSUM equals the stratified recursion in stream order"
    assert not stored.alarm, "a change of case mix alone must not page anyone"
    pooled = Baseline.for_rate(baseline.rate, source="x").detector()
    assert pooled.update_many(CusumState(), flips[120:]).alarm, "the pooled CUSUM would have"

    for modality, stratum in (("CT", "closed|CT"), ("MR", "open|MR")):
        delta = {
            name: value - before[modality][name]
            for name, value in risk_adjusted_counts("m", modality).items()
        }
        compared = delta["grounding_is_compared_audits_total"]
        # every audit after the freeze, less the few queued while it happened
        assert 0 < compared <= strata[120:].count(stratum)
        p0 = baseline.strata[stratum].p0
        assert delta["grounding_is_expected_flips_total"] == pytest.approx(compared * p0)
        assert delta["grounding_is_expected_flips_variance_total"] == pytest.approx(
            compared * p0 * (1 - p0)
        )
    z = observed_minus_expected("m", before)
    print(f"\nmix change alone: observed - expected = {z:+.2f} sd")
    assert abs(z) < 3, "the observed flips match what the new case mix predicts"

    stats = await sink.monitor.stats("m", redis=sink, records=[], queue_depth=0)
    by_modality = stats["windows"]["15m"]["by_modality"]
    assert set(by_modality) == {"CT", "MR"}
    assert by_modality["MR"]["IS"]["value"] < by_modality["CT"]["IS"]["value"]
    assert by_modality["CT"]["IS"]["lo"] < by_modality["CT"]["IS"]["value"]
    sink.close()


async def test_a_real_drop_in_one_stratum_shows_as_fewer_flips_than_expected(
    redis: RedisServer, client: redis_py.Redis
) -> None:
    """The same mix change, and the model looks less at the image in both strata (CT 0.7 -> 0.2,
    MR 0.1 -> 0.03): the observed flips fall well below the expected ones, and the CUSUM alarms."""
    records = stratified_traffic("drop", {("closed", "CT"): 0.2, ("open", "MR"): 0.03}, seed=12)
    before = {modality: risk_adjusted_counts("drop", modality) for modality in ("CT", "MR")}
    sink = make_sink(redis.url, DriftMonitor(windows_s=WINDOWS, min_audits=120))
    _emit_from(sink, records)
    assert sink.flush(30)
    sink.close()
    z = observed_minus_expected("drop", before)
    print(f"\nreal drop: observed - expected = {z:+.2f} sd")
    assert z < -1.96
    assert CusumState.from_hash(client.hgetall(cusum_key("drop"))).alarm


async def test_the_freeze_replays_pending_flips_with_and_without_a_stratum(
    redis: RedisServer, client: redis_py.Redis
) -> None:
    """Flips that waited for the freeze carry their stratum; ones queued by a replica from
    before strata existed (the flip alone) are replayed with the pooled increments."""
    from service.telemetry.baseline_admin import freeze_baseline
    from service.telemetry.redis_keys import connect, pending_key

    baseline = Baseline.for_counts({"closed|CT": (60, 42), "open|MR": (60, 6)}, source="auto")
    client.rpush(pending_key("m"), "0", "0|closed|CT", "1|open|MR")
    aclient = connect(redis.url)
    try:
        result = [str(v) for v in await freeze_baseline(aclient, "m", baseline)]
    finally:
        await aclient.aclose()
    detector = baseline.stratified()
    expected = CusumState()
    for stratum, flip in (("", 0), ("closed|CT", 0), ("open|MR", 1)):
        expected = detector.update(expected, stratum, flip)
    assert result[0] == "cusum" and int(result[2]) == 3
    assert CusumState.from_hash(client.hgetall(cusum_key("m"))) == expected
    assert client.exists(pending_key("m")) == 0


# --- persistence of the local Redis ------------------------------------------------------------


def test_the_local_redis_keeps_every_record_through_a_kill_9(tmp_path: Path) -> None:
    """scripts/run.sh starts Redis with scripts/redis-local.conf (append-only file)."""
    repo = Path(__file__).resolve().parents[2]
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
        sink = make_sink(f"redis://127.0.0.1:{port}/0")
        records = [make_record(i, i % 3 == 0) for i in range(25)]
        for record in records:
            sink.emit(record)
        assert sink.flush(10)
        sink.close()
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
