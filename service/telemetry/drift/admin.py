"""Baseline administration (the calibrate CLI, or an endpoint): freeze, set, reset, read."""

from __future__ import annotations

import logging
from typing import Any

from audits.science.drift.cusum import CusumState
from service.telemetry.drift.baseline import Baseline
from service.telemetry.drift.scripts import freeze_baseline_lua, set_baseline_lua
from service.telemetry.prometheus import EXPORTER
from service.telemetry.redis_keys import (
    baseline_key,
    cusum_key,
    pending_key,
    warmup_key,
)

log = logging.getLogger(__name__)


async def freeze_baseline(client: Any, model: str, baseline: Baseline) -> list[Any]:
    """Set the baseline only if none is set (the automatic freeze).

    Returns ``["exists"]`` when another call froze it first, else the CUSUM state after the
    flips that waited for the freeze, as the write script returns it.
    """
    args: list[str] = []
    for field, value in baseline.to_hash().items():
        args += [field, value]
    keys = (baseline_key(model), cusum_key(model), pending_key(model))
    return await client.eval(freeze_baseline_lua(), len(keys), *keys, *args)


async def set_baseline(client: Any, model: str, baseline: Baseline) -> None:
    """Replace the baseline; the CUSUM restarts from zero against it."""
    keys = (baseline_key(model), cusum_key(model), warmup_key(model), pending_key(model))
    args = [part for pair in baseline.to_hash().items() for part in pair]
    await client.eval(set_baseline_lua(), len(keys), *keys, *args)
    EXPORTER.record_drift(model, 0.0, False)


async def reset_cusum(client: Any, model: str) -> None:
    """After an incident is handled: statistic 0, alarm off, same baseline."""
    await client.delete(cusum_key(model))
    EXPORTER.record_drift(model, 0.0, False)


async def clear_baseline(client: Any, model: str) -> None:
    """Forget the baseline: the next ``drift_min_audits`` audits freeze a new one."""
    await client.delete(
        baseline_key(model), cusum_key(model), warmup_key(model), pending_key(model)
    )
    EXPORTER.record_drift(model, 0.0, False)


async def read_drift(client: Any, model: str) -> tuple[Baseline | None, CusumState]:
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(baseline_key(model))
    pipe.hgetall(cusum_key(model))
    baseline, state = await pipe.execute()
    return Baseline.from_hash(baseline), CusumState.from_hash(state)
