"""Registered rates online: one definition gives the Redis counters, the /stats figures and the
Prometheus series (``flipped``'s laterality consistency as the example)."""

from __future__ import annotations

import subprocess
import sys

from prometheus_client import REGISTRY

from audits.contracts.audit_record import AuditRecord
from audits.contracts.types import Condition, ConditionOutcome
from audits.science.flags import compute_flags
from audits.science.rates import online_rates
from service.telemetry.counting import record_increments
from service.telemetry.prometheus import EXPORTER
from service.telemetry.stats_figures import WindowFigures, window_figures

R, S, F = Condition.REAL, Condition.SHUFFLED, Condition.FLIPPED


def _record(real: str, mirrored: str, shuffled: str, model: str = "rates") -> AuditRecord:
    def out(answer: str) -> str:
        return f"<think>A round opacity is seen in the left lung.</think><answer>{answer}</answer>"

    outcomes = {
        c: ConditionOutcome(condition=c, output=out(a))
        for c, a in ((R, real), (F, mirrored), (S, shuffled))
    }
    flags = compute_flags(outcomes, question="Which side is the lesion on?")
    return AuditRecord(
        request_id="r",
        model=model,
        image_id="ab" * 32,
        mode="generate",
        conditions=[S, F],
        flags=flags,
        duration_ms=1.0,
        modality="CT",
    )


def test_every_online_rate_has_counters_and_a_window_figure() -> None:
    followed = record_increments(_record("left", "right", "right"))
    kept = record_increments(_record("left", "left", "left"))
    assert followed["laterality_consistency_n"] == 1 and followed["laterality_consistency_k"] == 1
    assert kept["laterality_consistency_n"] == 1 and "laterality_consistency_k" not in kept
    assert followed["shuffled_n"] == followed["shuffled_k"] == 1  # IS
    assert followed["flipped_n"] == followed["flipped_k"] == 1  # the raw flip under the mirror
    # flipped is metamorphic: a followed mirror is no image-invariance flip
    assert followed["mod:CT:shuffled_n"] == 1
    counts = {key: followed.get(key, 0) + kept.get(key, 0) for key in {*followed, *kept}}
    figures = window_figures(900, counts)
    assert set(WindowFigures.model_fields) >= {rate.label for rate in online_rates()}
    lateral = figures.model_dump()["laterality_consistency"]
    assert (lateral["k"], lateral["n"], lateral["value"]) == (1, 2, 0.5)
    assert figures.model_dump()["IS"]["n"] == 2
    assert set(figures.model_dump()["by_modality"]["CT"]) == {"audits", "IS", "IS_blank", "HVRR"}


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_prometheus_counts_every_online_rate_by_name() -> None:
    labels = {"model": "rates-prom", "rate": "laterality_consistency", "modality": "CT"}
    EXPORTER.start_model("rates-prom", ["generate"], ["shuffled", "flipped"])
    assert REGISTRY.get_sample_value("grounding_rate_items_total", labels) == 0.0
    EXPORTER.record_audit(_record("left", "right", "right", model="rates-prom"))
    EXPORTER.record_audit(_record("left", "left", "left", model="rates-prom"))
    assert _sample("grounding_rate_items_total", labels) == 2.0
    assert _sample("grounding_rate_hits_total", labels) == 1.0
    flips = {"model": "rates-prom", "condition": "flipped", "modality": "CT"}
    assert _sample("grounding_answer_flips_total", flips) == 1.0


def test_every_rate_is_registered_whatever_a_process_imports_first() -> None:
    """The /stats schema and the report's fields are built at import: a process that imports
    only the telemetry still sees the rates a condition module registers."""
    for module, model in (
        ("service.telemetry.stats_figures", "WindowFigures"),
        ("audits.science.metrics", "BenchmarkMetrics"),
    ):
        code = f"from {module} import {model}; print(sorted({model}.model_fields))"
        fields = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        assert "laterality_consistency" in fields and "flip_invariance" in fields, module
