"""What writing one audit record does in Redis: one Lua script, so it all lands atomically.

``write_record.lua`` (with the functions it calls):

- skips the record if its ``audit_id`` was written already (a retry after a reply that was
  lost on the way back must not count twice); a *reused* request id (another audit with the
  same id) keeps both records, counted in ``grounding_request_ids_reused_total`` and logged;
- ``XADD {grounding}:audits MAXLEN ~ <redis_stream_maxlen>`` with ``record.to_redis_fields()``;
- ``HSET {grounding}:audit:<request_id>`` with the same fields (the latest record of the id) and
  ``EXPIRE <record_ttl_s>``;
- adds the record's counters to the totals and time buckets of ``/stats``
  (``service.telemetry.rolling_counts``, ``count_record``);
- takes the record's step of the drift detector (``service.telemetry.drift.monitor``,
  ``drift_update``), whose follow-up (gauges, the automatic baseline freeze) runs after the
  reply.

Records carry no image bytes (only the keyed ``image_id``), and question/output text only when
the operator turned ``retain_text`` on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from audits.contracts.audit_record import AuditRecord
from service.telemetry.drift.monitor import DriftMonitor
from service.telemetry.drift.scripts import drift_update_lua
from service.telemetry.prometheus import EXPORTER
from service.telemetry.redis_keys import STREAM_KEY, record_ids_key, record_key
from service.telemetry.redis_scripts import lua_source
from service.telemetry.rolling_counts import RollingCounts

log = logging.getLogger(__name__)


def write_record_lua() -> str:
    """KEYS: stream, record hash, audit ids, counter keys, drift keys; see the module."""
    return (
        lua_source("service.telemetry", "count_record")
        + drift_update_lua()
        + lua_source("service.telemetry", "write_record")
    )


class RecordScript:
    """The inputs of ``write_record`` for a record, and what its reply means."""

    def __init__(
        self,
        *,
        counts: RollingCounts,
        drift: DriftMonitor,
        stream_maxlen: int = 100_000,
        record_ttl_s: int = 7 * 24 * 3600,
    ) -> None:
        self.counts = counts
        self.drift = drift
        self.stream_maxlen = stream_maxlen
        self.record_ttl_s = record_ttl_s
        self.source = write_record_lua()

    def inputs(self, record: AuditRecord) -> tuple[list[str], list[str]]:
        """KEYS and ARGV of ``write_record`` for one record."""
        fields = record.to_redis_fields()
        count_keys, count_args = self.counts.update_plan(record)
        drift_keys, drift_args = self.drift.update_plan(record)
        request_id = record.request_id
        keys = [STREAM_KEY, record_key(request_id), record_ids_key(request_id)]
        args = [str(self.stream_maxlen), str(self.record_ttl_s), record.audit_id, str(len(fields))]
        for field, value in fields.items():
            args += [field, value]
        args += [str(len(count_keys)), str(len(count_args)), *count_args, *drift_args]
        return keys + count_keys + drift_keys, args

    async def after_write(self, client: Any, record: AuditRecord, reply: Sequence[Any]) -> None:
        """Count a reused request id; the drift step's follow-up (it may talk to Redis)."""
        status, *drift = reply
        if status == "reused":
            EXPORTER.request_id_reused(record.model)
            log.warning(
                "request id %s was used again; both audit records are kept (the stream "
                "has both, GET /audits/{id} answers the latest)",
                record.request_id,
            )
        await self.drift.after_update(client, record, drift)
