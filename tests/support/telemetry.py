"""Records, Redis telemetry and clients for the telemetry tests against a real redis-server."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import redis as redis_py
from prometheus_client import REGISTRY

from audits.contracts.audit_record import AuditRecord
from audits.contracts.types import ClaimSpan, Condition, ItemFlags
from service.identity import answer_fingerprint, image_id
from service.telemetry.drift import calibrate
from service.telemetry.redis_keys import STREAM_KEY
from service.telemetry.redis_telemetry import RedisTelemetry
from service.telemetry.stats_reader import StatsReader
from tests.support.images import png_bytes
from tests.support.servers import RedisServer

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


def audit_record(
    request_id: str = "r",
    *,
    flips: dict[Condition, bool] | None = None,
    hvr: bool | None = None,
    claims: int = 0,
    skipped: dict[Condition, str] | None = None,
    ts: float = 1000.0,
    model: str = "m",
) -> AuditRecord:
    """A record with just the flags given (the unit tests' record)."""
    flips = flips or {}
    skipped = skipped or {}
    return AuditRecord(
        request_id=request_id,
        ts=ts,
        model=model,
        image_id="0" * 64,
        mode="generate",
        conditions=[c for c in (*flips, *skipped) if c not in skipped],
        skipped=skipped,
        flags=ItemFlags(flips=flips, hvr=hvr, claim_spans=[CLAIM] * claims, skipped=skipped),
        duration_ms=5.0,
    )


def make_telemetry(url: str, *, min_audits: int = 20, **options: float) -> RedisTelemetry:
    """Redis telemetry with quick backoff and timeouts (the loop, ledger, sink of a replica)."""
    return RedisTelemetry(
        url,
        windows_s=WINDOWS,
        min_audits=min_audits,
        stream_maxlen=int(options.pop("stream_maxlen", 10_000)),
        record_ttl_s=int(options.pop("record_ttl_s", 3600)),
        buffer_size=int(options.pop("buffer_size", 1000)),
        backoff_min_s=0.02,
        backoff_max_s=0.2,
        socket_timeout_s=1.0,
    )


def make_reader(min_audits: int = 20) -> StatsReader:
    return StatsReader(windows_s=WINDOWS, min_audits=min_audits)


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


def redis_client(server: RedisServer) -> redis_py.Redis:
    return redis_py.Redis(port=server.port, decode_responses=True)


def stream_entries(client: redis_py.Redis) -> list[dict[str, str]]:
    return [fields for _, fields in client.xrange(STREAM_KEY)]


def emit_slowly(telemetry: RedisTelemetry, records: list[AuditRecord]) -> None:
    for rec in records:
        telemetry.sink.emit(rec)
        time.sleep(0.0005)


async def calibrate_async(url: str, *argv: str) -> dict[str, Any]:
    """``grounding-audit calibrate --model m --min-audits 20 <argv>`` against ``url``."""
    parser = argparse.ArgumentParser()
    calibrate.register(parser)
    args = parser.parse_args(["--redis-url", url, "--model", "m", "--min-audits", "20", *argv])
    return await calibrate.calibrate(args, url, 20)
