"""Stored audit records and feedback in Redis (``GET /audits/{id}``, ``POST /feedback``).

``get`` is ``HGETALL {grounding}:audit:<request_id>`` (None once the TTL removed it). A record this
replica has not written yet (still in the sink's buffer) is answered from the buffer; with Redis
unreachable, both calls fall back to the in-memory store (this replica's records), so they
never fail a request.

``add_feedback`` compares the reference with each condition's answer fingerprint
(``service.telemetry.store.correctness``), then a Lua script atomically writes ``reference_fp`` and
``correct_<condition>`` into the record hash and keeps the per-model counters in
``{grounding}:feedback:<model>``: ``n`` (requests with feedback), ``n_<c>``/``correct_<c>`` and
the paired counts ``pair_<real><shuffled>`` that give VRS. Each request counts once: repeating
the same reference changes nothing, and a different reference replaces the earlier verdicts
(their counts are taken out before the new ones go in).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from audits.contracts.types import ALL_CONDITIONS, Condition
from audits.science.parsing import normalize_answer
from service.identity import answer_fingerprint
from service.telemetry.prometheus import EXPORTER
from service.telemetry.redis_keys import feedback_key, record_key
from service.telemetry.redis_loop import RedisUnavailable
from service.telemetry.redis_scripts import feedback_lua
from service.telemetry.redis_telemetry import RedisTelemetry
from service.telemetry.store import RecordStore, correctness

log = logging.getLogger(__name__)


class RedisRecordStore:
    def __init__(
        self,
        redis: RedisTelemetry,
        secret: str,
        *,
        fallback: RecordStore | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        self._redis = redis
        self._secret = secret
        self._fallback = fallback
        self._timeout_s = timeout_s

    async def _hgetall(self, request_id: str) -> dict[str, str]:
        raw = await self._redis.call(
            lambda client: client.hgetall(record_key(request_id)), self._timeout_s
        )
        return dict(raw)

    async def get(self, request_id: str) -> dict[str, str] | None:
        try:
            fields = await self._hgetall(request_id)
        except RedisUnavailable as exc:
            log.warning("record lookup in Redis failed (%s); using local records", exc)
            return await self._fallback.get(request_id) if self._fallback else None
        if fields:
            return fields
        pending = self._redis.sink.pending(request_id)
        return pending.to_redis_fields() if pending is not None else None

    async def add_feedback(self, request_id: str, reference: str) -> dict[Condition, bool] | None:
        try:
            fields = await self._hgetall(request_id)
            if not fields and self._redis.sink.pending(request_id) is not None:
                await asyncio.to_thread(self._redis.flush, self._timeout_s)
                fields = await self._hgetall(request_id)
            if not fields:
                return None
            result = correctness(fields, reference, self._secret)
            reference_fp = answer_fingerprint(normalize_answer(reference), self._secret)
            args: list[str] = [reference_fp]
            for condition in ALL_CONDITIONS:
                if condition in result:
                    args += [condition.value, str(int(result[condition]))]
            model = fields.get("model", "")
            outcome = await self._redis.call(
                lambda client: _run_feedback(client, request_id, model, args), self._timeout_s
            )
        except RedisUnavailable as exc:
            EXPORTER.sink_error(self._redis.sink.name)
            log.warning("feedback not stored in Redis (%s); kept in local memory only", exc)
            return (
                await self._fallback.add_feedback(request_id, reference) if self._fallback else None
            )
        if int(outcome) < 0:
            return None
        return result


async def _run_feedback(client: Any, request_id: str, model: str, args: list[str]) -> Any:
    return await client.eval(feedback_lua(), 2, record_key(request_id), feedback_key(model), *args)
