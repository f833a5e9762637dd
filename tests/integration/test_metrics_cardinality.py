"""/metrics carries no per-request values: requests to distinct ids and unknown paths add no
series (BentoML would label its HTTP metrics with the raw path; service/http/route_labels.py)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DEMO_API_KEY
from tests.support.servers import ServedService


def series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_distinct_ids_and_unknown_paths_add_no_series(demo_service: ServedService) -> None:
    with httpx.Client(base_url=demo_service.url, timeout=30) as client:

        def hit(i: int) -> None:
            assert client.get(f"/audits/probe-id-{i:05d}-cardinality").status_code == 401
            headers = {"Authorization": f"Bearer {DEMO_API_KEY}"}
            assert client.get(f"/audits/probe-known-{i:05d}", headers=headers).status_code == 404
            assert client.get(f"/no-such-path-{i:05d}/x").status_code == 404

        hit(0)  # the first of each kind creates its (route template, status) series
        before = client.get("/metrics").text
        for i in range(1, 334):
            hit(i)
        after = client.get("/metrics").text

    assert series(after) == series(before)
    assert abs(len(after) - len(before)) < 0.02 * len(before)  # counter digits only
    assert "probe-id-" not in after
    assert "probe-known-" not in after
    assert "no-such-path" not in after
    assert 'endpoint="/audits/{request_id}"' in after


def test_labelled_counters_have_their_series_from_start_up(demo_service: ServedService) -> None:
    """Alert expressions need a series before the first event (PrometheusExporter.start_model)."""
    from service.telemetry.prometheus import KNOWN_DROP_REASONS, KNOWN_SINKS

    present = series(httpx.get(f"{demo_service.url}/metrics", timeout=30).text)
    names = {
        (name, dict(labels).get("reason"), dict(labels).get("sink")) for name, labels in present
    }
    for reason in KNOWN_DROP_REASONS:
        assert ("grounding_audits_dropped_total", reason, None) in names, reason
    for sink in KNOWN_SINKS:
        assert ("grounding_sink_errors_total", None, sink) in names, sink
        assert ("grounding_sink_overflow_total", None, sink) in names, sink
    for name in ("grounding_request_ids_reused_total", "grounding_mirrored_total"):
        assert (name, None, None) in names, name
