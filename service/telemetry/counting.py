"""Counter increments of audit records and the time buckets of the rolling windows."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping

from audits.contracts.audit_record import AuditRecord
from audits.contracts.types import COUNTERFACTUALS
from audits.science.rates import ItemRate, RateInputs, online_rates

log = logging.getLogger(__name__)


BUCKETS_PER_WINDOW = 60
MIN_BUCKET_S = 60


def bucket_resolution(window_s: int) -> int:
    return max(MIN_BUCKET_S, math.ceil(window_s / BUCKETS_PER_WINDOW))


def bucket_ttls(windows_s: Iterable[int]) -> dict[int, int]:
    """Bucket resolution -> TTL (the longest window read at that resolution plus two buckets)."""
    ttls: dict[int, int] = {}
    for window in windows_s:
        resolution = bucket_resolution(window)
        ttls[resolution] = max(ttls.get(resolution, 0), window + 2 * resolution)
    return ttls


def window_buckets(now: float, window_s: int) -> range:
    """Indices of the buckets that overlap ``(now - window_s, now]``."""
    resolution = bucket_resolution(window_s)
    return range(math.floor((now - window_s) / resolution), math.floor(now / resolution) + 1)


def window_label(window_s: int) -> str:
    if window_s % 3600 == 0:
        return f"{window_s // 3600}h"
    if window_s % 60 == 0:
        return f"{window_s // 60}m"
    return f"{window_s}s"


def record_increments(record: AuditRecord) -> dict[str, int]:
    """Counter increments of one audit (zeros left out): totals, conditions run and skipped,
    flips per condition, and ``<stem>_n`` / ``<stem>_k`` of every online rate
    (``audits.science.rates``), per modality too for the rates reported by modality."""
    flags = record.flags
    inc: dict[str, int] = {"audits": 1}
    for condition in record.conditions:
        inc[f"run_{condition.value}"] = 1
    for condition in record.skipped:
        inc[f"skipped_{condition.value}"] = 1
    for condition in COUNTERFACTUALS:
        flip = flags.flips.get(condition)
        if flip is not None:
            inc[f"{condition.value}_n"] = 1
            inc[f"{condition.value}_k"] = int(flip)
    for rate, value in online_rate_values(record).items():
        inc[f"{rate.counter_stem}_n"] = 1
        inc[f"{rate.counter_stem}_k"] = int(value)
    prefix = modality_prefix(record.modality)
    for field in ("audits", *modality_fields()):
        if field in inc:
            inc[prefix + field] = inc[field]
    return {field: value for field, value in inc.items() if value}


def online_rate_values(record: AuditRecord) -> dict[ItemRate, bool]:
    """The audit's value of every online rate where it is defined."""
    ran = frozenset(c.value for c in record.conditions if c not in record.skipped)
    inputs = RateInputs(flags=record.flags, ran=ran)
    values = {rate: rate.value(inputs) for rate in online_rates()}
    return {rate: value for rate, value in values.items() if value is not None}


def modality_fields() -> tuple[str, ...]:
    """The counter fields kept per modality: those of the rates reported by modality."""
    return tuple(
        f"{rate.counter_stem}_{part}"
        for rate in online_rates()
        if rate.by_modality
        for part in "nk"
    )


MODALITY_PREFIX = "mod:"


def modality_prefix(modality: str) -> str:
    """Counter fields of one modality: ``mod:<label>:<field>`` (IS, IS_blank and HVRR per
    modality)."""
    return f"{MODALITY_PREFIX}{modality}:"


def modality_counts(counts: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """``{modality: {field: count}}`` from counts holding ``mod:<label>:<field>`` fields."""
    out: dict[str, dict[str, int]] = {}
    for name, value in counts.items():
        if name.startswith(MODALITY_PREFIX):
            modality, _, field = name[len(MODALITY_PREFIX) :].partition(":")
            out.setdefault(modality, {})[field] = value
    return out


def add_counts(total: dict[str, int], more: Mapping[str, int]) -> None:
    for field, value in more.items():
        total[field] = total.get(field, 0) + value


def int_fields(mapping: Mapping[str, str]) -> dict[str, int]:
    """A Redis hash of integers as ``{field: int}``; non-integers are skipped."""
    out: dict[str, int] = {}
    for name, value in mapping.items():
        try:
            out[name] = int(value)
        except (TypeError, ValueError):
            continue
    return out
