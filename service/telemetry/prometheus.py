"""Every Prometheus metric of the service, declared once (DESIGN.md section 4).

Labels are fixed and low-cardinality: model, mode, condition, reason, sink, and modality (CT, MR,
CR, DX, US, MG, PT, NM, XA, other, unknown; ``audits.data.dicom.MODALITY_LABELS``) on the audit,
flip and claim counters. No request ids, no text.
Under several BentoML workers prometheus_client's multiprocess mode sums counters across
workers; gauges say how they combine. Each service instance has its own multiprocess folder
(``service.telemetry.multiproc``), so another instance on the host never resets these.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from audits.contracts.audit_record import AuditRecord
from audits.data.dicom import MODALITY_LABELS, UNKNOWN_MODALITY, normalize_modality
from audits.science.rates import online_rates
from service.engine.stats import SchedulerStats
from service.telemetry.counting import online_rate_values
from service.telemetry.multiproc import use_instance_dir

use_instance_dir()  # in a BentoML worker: this instance's own folder, before any metric value

REQUESTS = Counter("grounding_requests", "Production requests answered", ["model"])
MIRRORED = Counter("grounding_mirrored", "Production requests sampled for audit", ["model"])
AUDITS = Counter(
    "grounding_audits", "Completed counterfactual audits", ["model", "mode", "modality"]
)
AUDITED_CONDITIONS = Counter(
    "grounding_audited_conditions",
    "Audits in which a counterfactual condition ran (denominator of its flip rate)",
    ["model", "condition", "modality"],
)
ANSWER_FLIPS = Counter(
    "grounding_answer_flips",
    "Audits whose answer changed under a condition",
    ["model", "condition", "modality"],
)
VISUAL_CLAIMS = Counter(
    "grounding_visual_claims",
    "Audited responses with at least one visual claim",
    ["model", "modality"],
)
HALLUCINATED_REASONING = Counter(
    "grounding_hallucinated_reasoning",
    "Audited responses with visual claims whose answer did not depend on the image",
    ["model", "modality"],
)
MODALITY_SKEPTIC = Counter(
    "grounding_modality_skeptic",
    "Audited responses that commit to an answer although their reasoning says the image does "
    "not fit the question",
    ["model", "modality"],
)
RATE_ITEMS = Counter(
    "grounding_rate_items",
    "Audits in the denominator of a registered rate (audits.science.rates: image_sensitivity, "
    "laterality_consistency, ...)",
    ["model", "rate", "modality"],
)
RATE_HITS = Counter(
    "grounding_rate_hits",
    "Of those audits, the ones counted in the rate's numerator",
    ["model", "rate", "modality"],
)
IS_COMPARED_AUDITS = Counter(
    "grounding_is_compared_audits",
    "Audits with a shuffled comparison scored against the frozen IS baseline of their stratum "
    "(question kind x modality)",
    ["model", "modality"],
)
IS_COMPARED_FLIPS = Counter(
    "grounding_is_compared_flips",
    "Of those audits, the ones whose answer changed under the shuffled image (observed)",
    ["model", "modality"],
)
IS_EXPECTED_FLIPS = Counter(
    "grounding_is_expected_flips",
    "Sum over those audits of their stratum's baseline flip rate p0 (expected under the baseline)",
    ["model", "modality"],
)
IS_EXPECTED_FLIPS_VARIANCE = Counter(
    "grounding_is_expected_flips_variance",
    "Sum over those audits of p0 (1 - p0): the variance of the observed count under the baseline",
    ["model", "modality"],
)
AUDITS_DROPPED = Counter(
    "grounding_audits_dropped", "Audits not run, by reason", ["model", "reason"]
)
REQUEST_IDS_REUSED = Counter(
    "grounding_request_ids_reused",
    "Audit records whose request id already had one (both records are kept)",
    ["model"],
)
SINK_ERRORS = Counter("grounding_sink_errors", "Failed writes to an audit sink", ["sink"])
SINK_OVERFLOW = Counter(
    "grounding_sink_overflow", "Audit records lost because a sink buffer was full", ["sink"]
)
AUDIT_DURATION = Histogram(
    "grounding_audit_duration_seconds",
    "Time from queueing an audit to its record",
    ["model", "mode"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
AUDIT_QUEUE_DEPTH = Gauge(
    "grounding_audit_queue_depth", "Mirrored audits waiting", multiprocess_mode="livesum"
)
IS_DRIFT_STATISTIC = Gauge(
    "grounding_is_drift_statistic",
    "CUSUM statistic for a drop of image sensitivity",
    ["model"],
    multiprocess_mode="livemax",
)
IS_DRIFT_ALARM = Gauge(
    "grounding_is_drift_alarm",
    "1 when the image-sensitivity CUSUM has raised its alarm",
    ["model"],
    multiprocess_mode="livemax",
)

RISK_ADJUSTED = (
    IS_COMPARED_AUDITS,
    IS_COMPARED_FLIPS,
    IS_EXPECTED_FLIPS,
    IS_EXPECTED_FLIPS_VARIANCE,
)

KNOWN_DROP_REASONS = (
    "queue_full",
    "queue_bytes",
    "error",
    "shutdown",
    "completion_full",
    "upstream_error",
)
KNOWN_SINKS = ("redis", "log", "memory", "prometheus")


class PrometheusExporter:
    """The one writer of the metrics above: the scheduler's stats and the audit records in,
    Prometheus series out (vLLM ``v1/metrics/loggers.py`` style). Nothing else in the service
    touches a metric object."""

    def start_model(self, model: str, modes: Iterable[str], conditions: Iterable[str]) -> None:
        """Create the known label combinations at 0, so alert expressions see a series from
        start-up rather than from the first event."""
        REQUESTS.labels(model=model)
        MIRRORED.labels(model=model)
        REQUEST_IDS_REUSED.labels(model=model)
        for modality in MODALITY_LABELS:
            VISUAL_CLAIMS.labels(model=model, modality=modality)
            HALLUCINATED_REASONING.labels(model=model, modality=modality)
            MODALITY_SKEPTIC.labels(model=model, modality=modality)
            for counter in RISK_ADJUSTED:
                counter.labels(model=model, modality=modality)
            for rate in online_rates():
                RATE_ITEMS.labels(model=model, rate=rate.name, modality=modality)
                RATE_HITS.labels(model=model, rate=rate.name, modality=modality)
            for mode in modes:
                AUDITS.labels(model=model, mode=mode, modality=modality)
            for condition in conditions:
                AUDITED_CONDITIONS.labels(model=model, condition=condition, modality=modality)
                ANSWER_FLIPS.labels(model=model, condition=condition, modality=modality)
        for reason in KNOWN_DROP_REASONS:
            AUDITS_DROPPED.labels(model=model, reason=reason)
        for sink in KNOWN_SINKS:
            SINK_ERRORS.labels(sink=sink)
            SINK_OVERFLOW.labels(sink=sink)

    def request_answered(self, model: str) -> None:
        REQUESTS.labels(model=model).inc()

    def request_mirrored(self, model: str) -> None:
        MIRRORED.labels(model=model).inc()

    def audit_dropped(self, model: str, reason: str, count: int = 1) -> None:
        AUDITS_DROPPED.labels(model=model, reason=reason).inc(count)

    def request_id_reused(self, model: str) -> None:
        REQUEST_IDS_REUSED.labels(model=model).inc()

    def record_scheduler(self, model: str, stats: SchedulerStats) -> None:
        AUDIT_QUEUE_DEPTH.set(stats.audit_queue_depth)
        for reason, count in stats.audits_dropped.items():
            self.audit_dropped(model, reason, count)

    def record_audit(self, record: AuditRecord) -> None:
        model, flags = record.model, record.flags
        modality = normalize_modality(record.modality or UNKNOWN_MODALITY)
        AUDITS.labels(model=model, mode=record.mode, modality=modality).inc()
        for condition in record.conditions:
            if condition in flags.flips:
                labels = {"model": model, "condition": condition.value, "modality": modality}
                AUDITED_CONDITIONS.labels(**labels).inc()
                if flags.flips[condition]:
                    ANSWER_FLIPS.labels(**labels).inc()
        if flags.visual_claim:
            VISUAL_CLAIMS.labels(model=model, modality=modality).inc()
        if flags.hvr:
            HALLUCINATED_REASONING.labels(model=model, modality=modality).inc()
        if flags.modality_skeptic:
            MODALITY_SKEPTIC.labels(model=model, modality=modality).inc()
        for rate, value in online_rate_values(record).items():
            labels = {"model": model, "rate": rate.name, "modality": modality}
            RATE_ITEMS.labels(**labels).inc()
            if value:
                RATE_HITS.labels(**labels).inc()
        AUDIT_DURATION.labels(model=model, mode=record.mode).observe(record.duration_ms / 1000)

    def sink_error(self, sink: str, count: int = 1) -> None:
        SINK_ERRORS.labels(sink=sink).inc(count)

    def sink_overflow(self, sink: str, count: int = 1) -> None:
        SINK_OVERFLOW.labels(sink=sink).inc(count)

    def record_risk_adjusted(self, model: str, modality: str, flipped: bool, p0: float) -> None:
        """One audit compared with its stratum's baseline rate ``p0``: observed and expected
        flips, so alerts can compare IS with what the current case mix predicts."""
        labels = {"model": model, "modality": normalize_modality(modality)}
        IS_COMPARED_AUDITS.labels(**labels).inc()
        if flipped:
            IS_COMPARED_FLIPS.labels(**labels).inc()
        IS_EXPECTED_FLIPS.labels(**labels).inc(p0)
        IS_EXPECTED_FLIPS_VARIANCE.labels(**labels).inc(p0 * (1.0 - p0))

    def record_drift(self, model: str, statistic: float, alarm: bool) -> None:
        IS_DRIFT_STATISTIC.labels(model=model).set(statistic)
        IS_DRIFT_ALARM.labels(model=model).set(1 if alarm else 0)


EXPORTER = PrometheusExporter()
