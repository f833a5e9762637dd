"""Every Redis key the service writes or reads, and the client that reads them (DESIGN.md s.4).

Every key starts with the hash tag ``{grounding}``, so on a Redis Cluster they all live in one
hash slot: the record script (stream, record hash, drift state in one atomic call) and the
feedback script touch several keys at once, which a cluster allows only within one slot.

- ``{grounding}:audits``: the stream of audit records (XADD MAXLEN ~);
- ``{grounding}:audit:<request_id>``: the record hash behind ``GET /audits/{id}`` and
  ``/feedback`` (the latest record of that request id);
- ``{grounding}:audit:<request_id>:ids``: the audit ids written for that request id;
- ``{grounding}:drift:<model>:<part>``: drift-monitor state (counts and the audit ledger, time
  buckets, CUSUM, warm-up, pending flips, baseline), see ``service.telemetry.rolling_counts``
  and ``service.telemetry.drift.monitor``;
- ``{grounding}:feedback:<model>``: feedback counters behind online accuracy and VRS.

``connect`` takes ``redis://`` (one server) or ``redis+cluster://`` (any node of a cluster).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

PREFIX = "{grounding}"
STREAM_KEY = f"{PREFIX}:audits"
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def record_key(request_id: str) -> str:
    return f"{PREFIX}:audit:{request_id}"


def record_ids_key(request_id: str) -> str:
    """The audit ids written for a request id: a retried write is recognised by its audit id,
    a reused request id by a second one."""
    return f"{PREFIX}:audit:{request_id}:ids"


def _drift_key(model: str, part: str) -> str:
    return f"{PREFIX}:drift:{model}:{part}"


def baseline_key(model: str) -> str:
    return _drift_key(model, "baseline")


def cusum_key(model: str) -> str:
    return _drift_key(model, "cusum")


def warmup_key(model: str) -> str:
    return _drift_key(model, "warmup")


def pending_key(model: str) -> str:
    return _drift_key(model, "pending")


def counts_key(model: str) -> str:
    return _drift_key(model, "counts")


def bucket_key(model: str, resolution_s: int, index: int) -> str:
    return _drift_key(model, f"b{resolution_s}:{index}")


def feedback_key(model: str) -> str:
    return f"{PREFIX}:feedback:{model}"


def is_cluster_url(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def connect(url: str, **options: Any) -> aioredis.Redis | aioredis.RedisCluster:
    """The service's Redis client: replies decoded to ``str`` (``decode_responses``), so no
    module decodes bytes by hand. ``redis+cluster://host:port`` connects to a Redis Cluster."""
    if is_cluster_url(url):
        plain = url.replace("+cluster://", "://", 1)
        return aioredis.RedisCluster.from_url(plain, decode_responses=True, **options)
    return aioredis.Redis.from_url(url, decode_responses=True, **options)
