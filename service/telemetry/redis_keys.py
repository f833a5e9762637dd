"""Every Redis key the service writes or reads, and the client that reads them (DESIGN.md s.4).

- ``grounding:audits``: the stream of audit records (XADD MAXLEN ~);
- ``grounding:audit:<request_id>``: the record hash behind ``GET /audits/{id}`` and ``/feedback``
  (the latest record of that request id);
- ``grounding:audit:<request_id>:ids``: the audit ids written for that request id;
- ``grounding:drift:<model>:<part>``: drift-monitor state (counts, time buckets, CUSUM, warm-up,
  pending flips, baseline), see ``service.telemetry.drift_monitor``;
- ``grounding:feedback:<model>``: feedback counters behind online accuracy and VRS.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

STREAM_KEY = "grounding:audits"


def record_key(request_id: str) -> str:
    return f"grounding:audit:{request_id}"


def record_ids_key(request_id: str) -> str:
    """The audit ids written for a request id: a retried write is recognised by its audit id,
    a reused request id by a second one."""
    return f"grounding:audit:{request_id}:ids"


def _drift_key(model: str, part: str) -> str:
    return f"grounding:drift:{model}:{part}"


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
    return f"grounding:feedback:{model}"


def connect(url: str, **options: Any) -> aioredis.Redis:
    """The service's Redis client: replies decoded to ``str`` (``decode_responses``), so no
    module decodes bytes by hand."""
    return aioredis.Redis.from_url(url, decode_responses=True, **options)
