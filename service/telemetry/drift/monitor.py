"""The image-sensitivity drift detector that every replica shares through Redis.

Each audit record takes one step of it, atomically and in the same Lua script that writes the
record (``service.telemetry.record_script``, ``lua/drift_update.lua``):

- ``{grounding}:drift:<model>:cusum``: the case-mix-aware (risk-adjusted) one-sided Bernoulli
  CUSUM on ``flip_shuffled`` (``audits.science.drift.stratified``): each audit is compared with
  the baseline of its stratum (question kind x modality), updated inside the script so replicas
  never race; the statistic is written with ``%.17g`` so it equals the pure Python recursion bit
  for bit.

The baseline ``{grounding}:drift:<model>:baseline`` is frozen either by ``grounding-audit
calibrate`` (first N audits in the stream, an offline report, or a number) or automatically:
while no baseline is set, the first ``drift_min_audits`` audits with a known ``flip_shuffled``
are counted in ``{grounding}:drift:<model>:warmup`` (in total and per stratum) and become the
baseline (``source = "auto"``: per-stratum rates for strata with enough audits, the pooled rate
for the rest, ``Baseline.for_counts``), frozen once by whichever replica sees the count complete (a
set-if-absent script, so every replica freezes the same value); flips that arrive between a
full warm-up and the freeze wait in ``{grounding}:drift:<model>:pending``. The CUSUM starts from
zero at the next audit; its status is ``insufficient_data`` until it has seen
``drift_min_audits`` audits since the baseline or the last reset. A detector needs
``0 < p0 < 1``: an observed rate is clamped into ``[0.01, 0.99]`` (the observed value is kept as
``rate``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from audits.contracts.audit_record import AuditRecord
from audits.science.drift.stratified import stratum_of
from service.telemetry.drift.admin import freeze_baseline
from service.telemetry.drift.baseline import Baseline
from service.telemetry.prometheus import EXPORTER
from service.telemetry.redis_keys import baseline_key, cusum_key, pending_key, warmup_key

log = logging.getLogger(__name__)


class DriftMonitor:
    """One drift step per record; one instance per process, any number of models."""

    def __init__(self, *, min_audits: int) -> None:
        self.min_audits = min_audits

    def update_plan(self, record: AuditRecord) -> tuple[list[str], list[str]]:
        """KEYS and ARGV of ``drift_update`` for one record."""
        model = record.model
        keys = [baseline_key(model), cusum_key(model), warmup_key(model), pending_key(model)]
        stratum = stratum_of(record.question_kind, record.modality)
        return keys, [str(self.min_audits), _flip_text(record.flip_shuffled), stratum]

    async def after_update(self, client: Any, record: AuditRecord, result: Sequence[Any]) -> None:
        """Export the CUSUM gauges and the record's risk-adjusted counts; freeze the automatic
        baseline once the warm-up is full."""
        model = record.model
        values = _texts(result)
        if len(values) > 5 and values[0] == "cusum" and values[5]:
            EXPORTER.record_risk_adjusted(
                model, record.modality, record.flip_shuffled is True, float(values[5])
            )
        if values and values[0] == "warmup" and int(values[1]) >= self.min_audits:
            n, k = int(values[1]), int(values[2])
            counts = warmup_strata(await client.hgetall(warmup_key(model))) or {"": (n, k)}
            baseline = await asyncio.to_thread(Baseline.for_counts, counts, source="auto")
            values = _texts(await freeze_baseline(client, model, baseline))
            if values and values[0] == "cusum":
                log.info(
                    "froze the IS baseline of %s at %.3f from %d audits (%d strata of their own)",
                    model,
                    k / n,
                    n,
                    len(baseline.strata),
                )
        if values and values[0] == "cusum":
            EXPORTER.record_drift(model, float(values[1]), values[3] == "1")


def warmup_strata(fields: dict[str, str]) -> dict[str, tuple[int, int]]:
    """(audits, flips) per stratum from the warm-up hash's ``n:<stratum>``/``k:<stratum>``."""
    return {
        name[2:]: (int(value), int(fields.get(f"k:{name[2:]}", "0")))
        for name, value in fields.items()
        if name.startswith("n:") and int(value) > 0
    }


def _texts(values: Sequence[Any] | None) -> list[str]:
    return [str(v) for v in values or ()]


def _flip_text(flip: bool | None) -> str:
    return "" if flip is None else str(int(flip))
