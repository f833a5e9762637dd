"""The counters behind ``/stats`` in Redis: running totals and the time buckets of the windows.

Each audit record adds its increments (``counting.record_increments``), in the record's own
script (``service.telemetry.record_script``, ``lua/count_record.lua``), to

- ``{grounding}:drift:<model>:counts``: running totals (audits, ``run_<c>``, ``skipped_<c>``, the
  numerators and denominators of the window figures; the audit ledger adds ``mirrored``,
  ``dropped`` and ``overflowed`` there, ``service.telemetry.ledger``);
- ``{grounding}:drift:<model>:b<res>:<index>``: the same increments in a time bucket of ``res``
  seconds (``index = floor(ts / res)``) with a TTL. A window of W seconds reads the buckets that
  overlap ``(now - W, now]``, so it covers W seconds plus less than one bucket. ``res`` is
  ``max(60 s, W / 60)``: one-minute buckets for the 15 min and 1 h windows, 24-minute buckets
  for 24 h, so an update costs one HINCRBY per field and resolution and a read at most 61
  small hashes per window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from audits.contracts.audit_record import AuditRecord
from service.telemetry.counting import (
    add_counts,
    bucket_resolution,
    bucket_ttls,
    record_increments,
    window_buckets,
)
from service.telemetry.redis_keys import bucket_key, counts_key


class RollingCounts:
    """The windows of ``/stats`` (seconds), how a record is counted and how windows are read."""

    def __init__(self, windows_s: Sequence[int]) -> None:
        if not windows_s or any(w <= 0 for w in windows_s):
            raise ValueError(f"drift windows must be positive seconds, got {windows_s}")
        self.windows_s = sorted(set(windows_s))
        self.ttls = bucket_ttls(self.windows_s)

    def update_plan(self, record: AuditRecord) -> tuple[list[str], list[str]]:
        """KEYS and ARGV of ``count_record`` for one record: the totals and one bucket per
        resolution; ARGV holds the increments, then each bucket's TTL."""
        model = record.model
        inc = record_increments(record)
        keys = [counts_key(model)]
        args = [str(len(inc))]
        for field, value in inc.items():
            args += [field, str(value)]
        for resolution, ttl in self.ttls.items():
            keys.append(bucket_key(model, resolution, math.floor(record.ts / resolution)))
            args.append(str(ttl))
        return keys, args

    def bucket_keys(self, model: str, now: float) -> list[str]:
        """Every bucket some window reads at ``now``, each once."""
        names: list[str] = []
        for window in self.windows_s:
            resolution = bucket_resolution(window)
            for index in window_buckets(now, window):
                name = bucket_key(model, resolution, index)
                if name not in names:
                    names.append(name)
        return names

    def per_window(
        self, model: str, now: float, buckets: Mapping[str, Mapping[str, int]]
    ) -> dict[int, dict[str, int]]:
        """Each window's counts from the buckets read (``bucket_keys``)."""
        per_window: dict[int, dict[str, int]] = {}
        for window in self.windows_s:
            resolution = bucket_resolution(window)
            total: dict[str, int] = {}
            for index in window_buckets(now, window):
                add_counts(total, buckets[bucket_key(model, resolution, index)])
            per_window[window] = total
        return per_window
