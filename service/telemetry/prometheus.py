"""Every Prometheus metric of the service, declared once (DESIGN.md section 4).

Labels are fixed and low-cardinality: model, mode, condition, reason, sink. No request ids, no
text. Under several BentoML workers prometheus_client's multiprocess mode (the directory BentoML
sets) sums counters across workers; gauges say how they combine.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("grounding_requests", "Production requests answered", ["model"])
MIRRORED = Counter("grounding_mirrored", "Production requests sampled for audit", ["model"])
AUDITS = Counter("grounding_audits", "Completed counterfactual audits", ["model", "mode"])
AUDITED_CONDITIONS = Counter(
    "grounding_audited_conditions",
    "Audits in which a counterfactual condition ran (denominator of its flip rate)",
    ["model", "condition"],
)
ANSWER_FLIPS = Counter(
    "grounding_answer_flips",
    "Audits whose answer changed under a condition",
    ["model", "condition"],
)
VISUAL_CLAIMS = Counter(
    "grounding_visual_claims", "Audited responses with at least one visual claim", ["model"]
)
HALLUCINATED_REASONING = Counter(
    "grounding_hallucinated_reasoning",
    "Audited responses with visual claims whose answer did not depend on the image",
    ["model"],
)
AUDITS_DROPPED = Counter(
    "grounding_audits_dropped", "Audits not run, by reason", ["model", "reason"]
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
