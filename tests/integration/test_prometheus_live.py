"""A real Prometheus scrapes the running service with the project's rules loaded: every
dashboard, recording-rule and alert expression evaluates, and the IS panels return data after
audited traffic."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from loadtests.processes import free_port
from tests.promql_expressions import (
    dashboard_expressions,
    evaluate_all,
    failures,
    grafana_alert_expressions,
    rule_expressions,
)
from tests.support.images import png_bytes
from tests.support.servers import ServedService, wait_until

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "grounding.json"
GRAFANA_ALERTS = REPO / "deploy" / "grafana" / "provisioning" / "alerting" / "rules.yml"
MODEL = "demo"


def _test_rules(target: Path) -> None:
    """The project's rules with a 2 s evaluation interval and the baseline for the test model."""
    target.mkdir()
    for path in RULES.glob("*.yml"):
        text = path.read_text().replace("interval: 1m", "interval: 2s")
        text = text.replace('"grounding-vlm"', f'"{MODEL}"')
        (target / path.name).write_text(text)


@pytest.fixture
def prometheus(demo_service: ServedService, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (CI installs the Debian package)")
    _test_rules(tmp_path / "rules")
    target = urlparse(demo_service.url).netloc
    (tmp_path / "prometheus.yml").write_text(
        f"""global:
  scrape_interval: 1s
  evaluation_interval: 2s
rule_files: ["{tmp_path}/rules/*.yml"]
scrape_configs:
  - job_name: grounding-audit
    static_configs:
      - targets: ["{target}"]
"""
    )
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path}/prometheus.yml",
            f"--storage.tsdb.path={tmp_path}/db",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: httpx.get(f"{url}/-/ready").status_code == 200, 30)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _query(prom: str, expr: str) -> list[dict]:
    body = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_every_expression_evaluates_and_is_panels_have_data(
    demo_service: ServedService, prometheus: str
) -> None:
    assert wait_until(lambda: _query(prometheus, 'up{job="grounding-audit"}'), 30)
    time.sleep(3)
    for seed in range(12):  # audited traffic, distinct images so the shuffle pool fills
        response = httpx.post(
            f"{demo_service.url}/predict",
            files={"image": ("s.png", png_bytes(500 + seed))},
            data={"question": "Is there a lesion?", "audit": "true"},
            timeout=60,
        )
        assert response.status_code == 200
    is_rule = f'model:grounding_image_sensitivity:ratio_rate15m{{model="{MODEL}"}}'
    assert wait_until(lambda: _query(prometheus, is_rule), 90, interval=1), "no IS recording"

    expressions = sorted(
        set(dashboard_expressions(DASHBOARD))
        | set(grafana_alert_expressions(GRAFANA_ALERTS))
        | set(rule_expressions(RULES))
    )
    assert len(expressions) > 30
    results = evaluate_all(prometheus, expressions, variables={"model": MODEL, "window": "15m"})
    assert failures(results) == {}

    is_panels = [e for e in dashboard_expressions(DASHBOARD) if "image_sensitivity" in e]
    assert is_panels
    panel_results = evaluate_all(prometheus, is_panels, variables={"model": MODEL, "window": "15m"})
    empty = [expr for expr, result in panel_results.items() if not result["series"]]
    assert empty == [], empty
