"""promtool checks of the Prometheus artefacts and the dashboard's PromQL.

- `promtool check rules` / `check config` on deploy/prometheus and the k8s PrometheusRule;
- `promtool test rules` on deploy/prometheus/tests (every alert fires and stays silent where it
  should);
- every dashboard and Grafana-alert expression, for each rolling window, parses and returns data
  when Prometheus holds series shaped like the metric contract (DESIGN.md section 4).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.promql_expressions import (
    dashboard_expressions,
    grafana_alert_expressions,
    substitute_template_vars,
)

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
TESTS_DIR = PROMETHEUS_DIR / "tests"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "grounding.json"
GRAFANA_ALERTS = REPO / "deploy" / "grafana" / "provisioning" / "alerting" / "rules.yml"
PROMETHEUS_RULE = REPO / "deploy" / "k8s" / "prometheusrule.yaml"
WINDOWS = ("15m", "1h", "6h")

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (apt-get install prometheus); CI installs it",
)


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def rules_in(path: Path) -> int:
    return sum(len(g["rules"]) for g in yaml.safe_load(path.read_text())["groups"])


def test_rule_files_pass_promtool_check() -> None:
    files = sorted(RULES_DIR.glob("*.yml"))
    assert {f.name for f in files} >= {"recording.yml", "alerts.yml", "baseline.yml"}
    output = assert_ok(promtool("check", "rules", *files))
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", output))
    assert found == sum(rules_in(f) for f in files)


def test_prometheus_config_passes_promtool_check() -> None:
    output = assert_ok(promtool("check", "config", PROMETHEUS_DIR / "prometheus.yml"))
    assert "SUCCESS" in output


def test_alert_unit_tests_pass() -> None:
    files = sorted(TESTS_DIR.glob("*.test.yml"))
    assert len(files) >= 2
    output = assert_ok(promtool("test", "rules", *files))
    assert output.count("SUCCESS") == len(files), output


def test_prometheusrule_groups_pass_promtool_check(tmp_path: Path) -> None:
    manifest = yaml.safe_load(PROMETHEUS_RULE.read_text())
    rule_file = tmp_path / "prometheusrule.yml"
    rule_file.write_text(yaml.safe_dump({"groups": manifest["spec"]["groups"]}))
    assert_ok(promtool("check", "rules", rule_file))


def grafana_queries() -> list[str]:
    """Dashboard and Grafana-alert PromQL, concrete for each window; [5m] rate ranges so the
    1-minute synthetic series hold enough samples."""
    raw = dashboard_expressions(DASHBOARD) + grafana_alert_expressions(GRAFANA_ALERTS)
    return sorted(
        {
            substitute_template_vars(e, {"window": w, "__rate_interval": "5m"})
            for e in raw
            for w in WINDOWS
        }
    )


def test_dashboard_and_grafana_expressions_parse(tmp_path: Path) -> None:
    queries = grafana_queries()
    rule_file = tmp_path / "dashboard.yml"
    records = [{"record": f"dashboard:query_{i}:check", "expr": q} for i, q in enumerate(queries)]
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    output = assert_ok(promtool("check", "rules", rule_file))
    assert f"SUCCESS: {len(queries)} rules found" in output


def contract_series() -> list[dict[str, str]]:
    """One model ("m1", which has a test baseline) on two replicas, every metric of the
    contract, counters growing each minute."""
    series: list[tuple[str, str]] = []
    for instance in ("a:3000", "b:3000"):
        base = f'job="grounding-audit",instance="{instance}",model="m1"'
        series += [
            (f"grounding_requests_total{{{base}}}", "0+100x120"),
            (f"grounding_mirrored_total{{{base}}}", "0+10x120"),
            (f'grounding_audits_total{{{base},mode="generate",modality="CT"}}', "0+4x120"),
            (f'grounding_audits_total{{{base},mode="score",modality="CT"}}', "0+4x120"),
            (f'grounding_visual_claims_total{{{base},modality="CT"}}', "0+5x120"),
            (f'grounding_hallucinated_reasoning_total{{{base},modality="CT"}}', "0+2x120"),
            (f'grounding_audits_dropped_total{{{base},reason="queue_full"}}', "0+1x120"),
            (
                f'grounding_sink_errors_total{{job="grounding-audit",instance="{instance}",'
                'sink="redis"}',
                "0+1x120",
            ),
            (
                f'grounding_audit_queue_depth{{job="grounding-audit",instance="{instance}"}}',
                "3x120",
            ),
            (
                f'grounding_sink_overflow_total{{job="grounding-audit",instance="{instance}",'
                'sink="redis"}',
                "0+1x120",
            ),
            (f'grounding_is_compared_audits_total{{{base},modality="CT"}}', "0+8x120"),
            (f'grounding_is_compared_flips_total{{{base},modality="CT"}}', "0+3x120"),
            (f'grounding_is_expected_flips_total{{{base},modality="CT"}}', "0+3.2x120"),
            (f'grounding_is_expected_flips_variance_total{{{base},modality="CT"}}', "0+1.92x120"),
            (f"grounding_is_drift_statistic{{{base}}}", "0.5x120"),
            (f"grounding_is_drift_alarm{{{base}}}", "0x120"),
        ]
        for rate, hits in (("laterality_consistency", 3), ("flip_invariance", 1)):
            series += [
                (f'grounding_rate_items_total{{{base},rate="{rate}",modality="CT"}}', "0+4x120"),
                (
                    f'grounding_rate_hits_total{{{base},rate="{rate}",modality="CT"}}',
                    f"0+{hits}x120",
                ),
            ]
        for condition, flips in (("shuffled", 3), ("blank", 2), ("no_image", 1)):
            series += [
                (
                    f'grounding_audited_conditions_total{{{base},condition="{condition}",modality="CT"}}',
                    "0+8x120",
                ),
                (
                    f'grounding_answer_flips_total{{{base},condition="{condition}",modality="CT"}}',
                    f"0+{flips}x120",
                ),
            ]
        for mode in ("generate", "score"):
            for le, per_minute in (("0.1", 2), ("0.5", 3), ("1", 4), ("+Inf", 4)):
                series.append(
                    (
                        f'grounding_audit_duration_seconds_bucket{{{base},mode="{mode}",le="{le}"}}',
                        f"0+{per_minute}x120",
                    )
                )
    return [{"series": s, "values": v} for s, v in series]


def run_on_contract_series(checks: list[dict[str, Any]], tmp_path: Path) -> str:
    """`promtool test rules` of the checks, with the recording rules over contract_series()."""
    test_file = tmp_path / "dashboard.test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [
                    str(RULES_DIR / "recording.yml"),
                    str(TESTS_DIR / "baselines.test-rules.yml"),
                ],
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": contract_series(),
                        "promql_expr_test": checks,
                    }
                ],
            },
            width=1000,
        )
    )
    return assert_ok(promtool("test", "rules", test_file))


def test_dashboard_and_grafana_expressions_return_data(tmp_path: Path) -> None:
    queries = grafana_queries()
    checks = [
        {
            "expr": f"count({query}) > bool 0",
            "eval_time": "90m",
            "exp_samples": [{"labels": "{}", "value": 1}],
        }
        for query in queries
    ]
    assert "SUCCESS" in run_on_contract_series(checks, tmp_path)
    # The dashboard has panels for every window-dependent recording rule family.
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len(queries) > len(panels)


def test_registered_rates_panel_plots_each_rate_by_name(tmp_path: Path) -> None:
    """One line per registered rate (its `rate` label), hits / items over the chosen window, so
    a rate registered in the code shows without a dashboard change."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    panel = next(p for p in panels if p["title"] == "Registered rates")
    (target,) = panel["targets"]
    assert "{{rate}}" in target["legendFormat"]
    assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
    recorded = "model_rate:grounding_rate:ratio_rate"
    checks = [
        {
            "expr": substitute_template_vars(target["expr"], {"window": window, "model": "m1"}),
            "eval_time": "90m",
            "exp_samples": [
                {"labels": f'{recorded}{window}{{model="m1",rate="{rate}"}}', "value": value}
                for rate, value in (("flip_invariance", 0.25), ("laterality_consistency", 0.75))
            ],
        }
        for window in WINDOWS
    ]
    assert "SUCCESS" in run_on_contract_series(checks, tmp_path)
