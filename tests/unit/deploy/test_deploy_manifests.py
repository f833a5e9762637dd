"""Static checks of the deployment artefacts under deploy/ and of bentofile.yaml.

No Prometheus, Grafana, Docker or Kubernetes is needed: the files are parsed and their cross
references (datasource uid, metric names, recording rules, selectors, ports, secrets) checked.
"""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import yaml

from tests.promql_expressions import (
    dashboard_expressions,
    evaluate_all,
    failures,
    grafana_alert_expressions,
    rule_expressions,
    substitute_template_vars,
)

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
RULES_DIR = DEPLOY / "prometheus" / "rules"
PROMTOOL_TESTS = DEPLOY / "prometheus" / "tests"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "grounding.json"
PROVISIONING = DEPLOY / "grafana" / "provisioning"
GRAFANA_ALERTS = PROVISIONING / "alerting" / "rules.yml"
K8S = DEPLOY / "k8s"
DATASOURCE_UID = "grounding-prom"
SERVICE_PORT = 3000
WINDOWS = ("15m", "1h", "6h")

# DESIGN.md section 4 (service/telemetry/prometheus.py), the histogram's series and `up`.
CONTRACT_METRICS = {
    "grounding_requests_total",
    "grounding_mirrored_total",
    "grounding_audits_total",
    "grounding_answer_flips_total",
    "grounding_audited_conditions_total",
    "grounding_visual_claims_total",
    "grounding_hallucinated_reasoning_total",
    "grounding_audits_dropped_total",
    "grounding_sink_errors_total",
    "grounding_sink_overflow_total",
    "grounding_audit_duration_seconds_bucket",
    "grounding_audit_duration_seconds_sum",
    "grounding_audit_duration_seconds_count",
    "grounding_audit_queue_depth",
    "grounding_is_drift_statistic",
    "grounding_is_drift_alarm",
    "grounding_is_compared_audits_total",
    "grounding_is_compared_flips_total",
    "grounding_is_expected_flips_total",
    "grounding_is_expected_flips_variance_total",
    "grounding_rate_items_total",
    "grounding_rate_hits_total",
    "up",
}
RECORDED_NAME = re.compile(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b")
RAW_NAME = re.compile(r"\b(?:grounding_[a-z0-9_]+|up)\b(?=\s*[{\[)\s]|$)")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        groups.extend(load_yaml(path)["groups"])
    return groups


def rules() -> Iterator[dict[str, Any]]:
    for group in rule_groups():
        yield from group["rules"]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p.get("type") != "row"]


def expanded(expressions: list[str]) -> list[str]:
    """Each expression with Grafana variables filled in, once per rolling window."""
    return sorted(
        {substitute_template_vars(e, {"window": w}) for e in expressions for w in WINDOWS}
    )


def k8s_docs() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in load_all(path)]


def k8s_kind(kind: str, docs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [d for d in (docs if docs is not None else k8s_docs()) if d.get("kind") == kind]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# --- Prometheus rules --------------------------------------------------------------------------


def test_recording_rules_cover_every_window_and_ratio() -> None:
    names = recorded_names()
    for window in WINDOWS:
        for base in (
            "model:grounding_image_sensitivity:ratio_rate",
            "model:grounding_image_sensitivity_blank:ratio_rate",
            "model:grounding_hvr:ratio_rate",
            "model:grounding_visual_claim:ratio_rate",
            "model:grounding_audits:rate",
            "model:grounding_audited:ratio_rate",
            "model_condition:grounding_answer_flips:ratio_rate",
            "model:grounding_image_sensitivity:wilson_upper95_rate",
        ):
            assert f"{base}{window}" in names


def test_ratios_aggregate_by_model_before_dividing() -> None:
    for rule in rules():
        if "record" not in rule or ":ratio_rate" not in rule["record"]:
            continue
        expr = rule["expr"]
        if "/" not in expr or RECORDED_NAME.search(expr.split("/")[0]):
            continue  # a ratio of recorded (already summed) series
        numerator, denominator = expr.split("/", 1)
        for side in (numerator, denominator):
            assert re.search(r"sum by \(model(, \w+)?\)", side), rule["record"]


def test_rules_only_use_contract_metrics_and_defined_recordings() -> None:
    names = recorded_names()
    for expr in rule_expressions(RULES_DIR):
        assert set(RECORDED_NAME.findall(expr)) <= names, expr
        assert set(RAW_NAME.findall(expr)) <= CONTRACT_METRICS, expr


def test_every_alert_has_severity_summary_runbook_and_for() -> None:
    found = alerts()
    assert len(found) >= 6
    for alert in found:
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, alert["alert"]
        assert alert["annotations"]["summary"].strip(), alert["alert"]
        assert alert["annotations"]["runbook"].strip(), alert["alert"]
        assert re.fullmatch(r"\d+[smh]", alert["for"]), alert["alert"]


def test_required_alerts_exist() -> None:
    exprs = {a["alert"]: a["expr"] for a in alerts()}
    for alert in ("GroundingImageSensitivityDrop", "GroundingImageSensitivityCollapse"):
        # case-mix aware: observed flips against what each audit's stratum baseline predicts
        assert "grounding_is_flips_observed_over_expected" in exprs[alert]
        assert "grounding_is_flips_observed_minus_expected:zscore" in exprs[alert]
        assert "model:grounding_is_baseline:ratio" not in exprs[alert]
    assert "grounding_is_drift_alarm" in exprs["GroundingISDriftAlarm"]
    assert "grounding_audits_dropped_total" in exprs["GroundingAuditsDropped"]
    assert "grounding_sink_errors_total" in exprs["GroundingSinkErrors"]
    assert "grounding_requests_total" in exprs["GroundingNoAudits"]


def test_is_drop_alert_has_volume_guard() -> None:
    expr = next(a["expr"] for a in alerts() if a["alert"] == "GroundingImageSensitivityDrop")
    guard = re.search(r"model:grounding_is_compared:increase1h >= (\d+)", expr)
    assert guard is not None and int(guard.group(1)) >= 50


def test_baseline_rules_are_per_model() -> None:
    baseline = load_yaml(RULES_DIR / "baseline.yml")
    entries = [r for g in baseline["groups"] for r in g["rules"]]
    assert entries
    models = []
    for rule in entries:
        assert rule["record"] == "model:grounding_is_baseline:ratio"
        match = re.fullmatch(
            r'label_replace\(vector\((0?\.\d+|1(?:\.0+)?)\), "model", "([^"]+)", "", ""\)',
            rule["expr"],
        )
        assert match, rule["expr"]
        assert 0 < float(match.group(1)) <= 1
        models.append(match.group(2))
    assert len(models) == len(set(models)), "two baselines for one model"


def promtool_cases() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(PROMTOOL_TESTS.glob("*.test.yml")):
        for test in load_yaml(path)["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


def test_every_alert_has_firing_and_silent_promtool_cases() -> None:
    cases = promtool_cases()
    for alert in alerts():
        name = alert["alert"]
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c.get("exp_alerts") for c in mine), f"{name}: no firing test"
        assert any(not c.get("exp_alerts") for c in mine), f"{name}: no silent test"


def test_promtool_tests_load_the_real_rule_files() -> None:
    for path in sorted(PROMTOOL_TESTS.glob("*.test.yml")):
        files = load_yaml(path)["rule_files"]
        assert "../rules/alerts.yml" in files and "../rules/recording.yml" in files
        for name in files:
            assert (PROMTOOL_TESTS / name).is_file(), name


def test_prometheus_config_scrapes_the_service_and_loads_the_rules() -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "grounding-audit")
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"grounding-audit:{SERVICE_PORT}"]
    matched = {
        p.name for pattern in config["rule_files"] for p in (DEPLOY / "prometheus").glob(pattern)
    }
    assert matched == {p.name for p in RULES_DIR.glob("*.yml")}


# --- Grafana -----------------------------------------------------------------------------------


def test_dashboard_panels_query_the_provisioned_datasource() -> None:
    found = panels()
    assert len(found) >= 12
    for panel in found:
        assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == DATASOURCE_UID, panel["title"]


def test_dashboard_panel_ids_are_unique_and_grid_does_not_overlap() -> None:
    found = panels()
    ids = [p["id"] for p in found]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in found:
        pos = panel["gridPos"]
        assert {"x", "y", "w", "h"} <= pos.keys(), panel["title"]
        assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine


def test_dashboard_shows_every_required_signal() -> None:
    text = "\n".join(dashboard_expressions(DASHBOARD))
    for needle in (
        "grounding_requests",
        "model:grounding_audited:ratio_rate",
        "model:grounding_image_sensitivity:ratio_rate",
        "model:grounding_image_sensitivity_blank:ratio_rate",
        "model:grounding_hvr:ratio_rate",
        "model:grounding_is_baseline:ratio",
        "model:grounding_is_flips_observed_over_expected:ratio_rate",
        "model_modality:grounding_is_flips_observed_over_expected:ratio_rate",
        "model:grounding_is_flips_observed_minus_expected:zscore_increase",
        "model_condition:grounding_answer_flips:ratio_rate",
        "grounding_is_drift_statistic",
        "grounding_is_drift_alarm",
        "histogram_quantile(0.95, sum by (mode, le) (rate(grounding_audit_duration_seconds_bucket",
        "grounding_audits_dropped_total",
        "grounding_sink_errors_total",
        "grounding_audit_queue_depth",
    ):
        assert needle in text, needle


def test_dashboard_and_grafana_alerts_reference_existing_series() -> None:
    names = recorded_names()
    exprs = expanded(dashboard_expressions(DASHBOARD) + grafana_alert_expressions(GRAFANA_ALERTS))
    for expr in exprs:
        assert "$" not in expr.replace("$__rate_interval", ""), expr
        assert set(RECORDED_NAME.findall(expr)) <= names, expr
        assert set(RAW_NAME.findall(expr)) <= CONTRACT_METRICS, expr


def test_dashboard_variables_are_defined() -> None:
    board = dashboard()
    defined = {v["name"] for v in board["templating"]["list"]}
    used = {
        m.group(1) or m.group(2)
        for e in dashboard_expressions(DASHBOARD)
        for m in re.finditer(r"\$\{(\w+)[^}]*\}|\$(\w+)", e)
    }
    assert {u for u in used if not u.startswith("__")} <= defined
    window = next(v for v in board["templating"]["list"] if v["name"] == "window")
    assert window["query"].split(",") == list(WINDOWS)
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == DATASOURCE_UID


def test_datasource_provisioning_has_the_fixed_uid() -> None:
    config = load_yaml(PROVISIONING / "datasources" / "prometheus.yml")
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["uid"] == DATASOURCE_UID
    assert source["type"] == "prometheus"
    assert source["url"].startswith("http")


def test_dashboard_provider_path_is_where_compose_mounts_the_dashboards() -> None:
    provider = load_yaml(PROVISIONING / "dashboards" / "provider.yml")
    assert provider["apiVersion"] == 1
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    grafana = load_yaml(DEPLOY / "docker-compose.yml")["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    assert mounts["./grafana/dashboards"] == entry["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


def test_grafana_alert_rules_are_well_formed() -> None:
    config = load_yaml(GRAFANA_ALERTS)
    assert config["apiVersion"] == 1
    board = dashboard()
    panel_ids = {p["id"] for p in panels()}
    uids = []
    for group in config["groups"]:
        assert group["name"] and group["folder"] and group["interval"]
        for rule in group["rules"]:
            uids.append(rule["uid"])
            ref_ids = {q["refId"] for q in rule["data"]}
            assert rule["condition"] in ref_ids, rule["uid"]
            queries = [q for q in rule["data"] if q["datasourceUid"] != "__expr__"]
            assert queries, rule["uid"]
            for query in queries:
                assert query["datasourceUid"] == DATASOURCE_UID
                assert query["model"]["expr"].strip()
                assert query["relativeTimeRange"]["from"] > 0
            for expression in (q for q in rule["data"] if q["datasourceUid"] == "__expr__"):
                assert expression["model"]["expression"] in ref_ids, rule["uid"]
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}
            assert rule["annotations"]["summary"] and rule["annotations"]["runbook"]
            assert rule["noDataState"] in {"OK", "NoData", "Alerting", "KeepLast"}
            assert rule["dashboardUid"] == board["uid"]
            assert rule["panelId"] in panel_ids
    assert len(uids) == len(set(uids))
    assert any(
        "model:grounding_is_flips_observed_over_expected:ratio_rate1h" in e
        for e in grafana_alert_expressions(GRAFANA_ALERTS)
    )


# --- docker compose ----------------------------------------------------------------------------


def test_compose_stack_wires_service_redis_prometheus_grafana() -> None:
    services = load_yaml(DEPLOY / "docker-compose.yml")["services"]
    assert {"grounding-audit", "redis", "prometheus", "grafana"} <= services.keys()
    app = services["grounding-audit"]
    assert f"{SERVICE_PORT}:{SERVICE_PORT}" in app["ports"]
    assert "3001:3000" in services["grafana"]["ports"]
    env = app["environment"]
    assert env["GROUNDING_REDIS_URL"].startswith("redis://redis:6379")
    for secret in ("GROUNDING_API_KEYS", "GROUNDING_HMAC_SECRET"):
        assert ":?" in env[secret], f"{secret} must be required, not defaulted"
    assert "/readyz" in " ".join(app["healthcheck"]["test"])
    prom_mounts = dict(v.split(":")[:2] for v in services["prometheus"]["volumes"])
    assert prom_mounts["./prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert prom_mounts["./prometheus/rules"] == "/etc/prometheus/rules"
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), volume


def test_compose_gpu_override_reserves_an_nvidia_gpu() -> None:
    override = load_yaml(DEPLOY / "docker-compose.gpu.yml")["services"]["grounding-audit"]
    (device,) = override["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert override["environment"]["GROUNDING_DEVICE"] == "cuda"


# --- Kubernetes --------------------------------------------------------------------------------


def container_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


def the_deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [
        d for d in k8s_kind("Deployment", docs) if d["metadata"]["name"] == "grounding-audit"
    ]
    return deployment


def test_every_manifest_is_in_kustomization_except_the_secret_example() -> None:
    resources = set(load_yaml(K8S / "kustomization.yaml")["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")}
    assert resources <= on_disk
    assert "secret.example.yaml" not in resources
    assert on_disk - resources == {
        "kustomization.yaml",
        "secret.example.yaml",
        "prometheus-adapter-rules.yaml",
    }


def test_deployment_requests_a_gpu_and_probes_port_3000() -> None:
    deployment = the_deployment(k8s_docs())
    pod = deployment["spec"]["template"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"])
    (container,) = pod["spec"]["containers"]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
        http = container[probe]["httpGet"]
        assert http["path"] == path
        assert container_port(container, http["port"]) == SERVICE_PORT
    assert pod["spec"]["terminationGracePeriodSeconds"] >= 30


def test_deployment_takes_secrets_from_the_secret_and_settings_from_the_configmap() -> None:
    docs = k8s_docs()
    (container,) = the_deployment(docs)["spec"]["template"]["spec"]["containers"]
    (secret,) = k8s_kind("Secret", load_all(K8S / "secret.example.yaml"))
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert set(refs) == {"GROUNDING_API_KEYS", "GROUNDING_HMAC_SECRET"}
    for ref in refs.values():
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
    assert not [e for e in container["env"] if "value" in e and "SECRET" in e["name"]]
    (config_ref,) = [s["configMapRef"]["name"] for s in container["envFrom"]]
    (configmap,) = [c for c in k8s_kind("ConfigMap", docs) if c["metadata"]["name"] == config_ref]
    assert all(key.startswith(("GROUNDING_", "HF_")) for key in configmap["data"])
    redis_host = re.match(r"redis://([^:/]+)", configmap["data"]["GROUNDING_REDIS_URL"])
    assert redis_host is not None
    redis_services = {s["metadata"]["name"] for s in k8s_kind("Service", docs)}
    assert redis_host.group(1) in redis_services


def test_deployment_volumes_exist() -> None:
    docs = k8s_docs()
    pod = the_deployment(docs)["spec"]["template"]["spec"]
    claims = {c["metadata"]["name"] for c in k8s_kind("PersistentVolumeClaim", docs)}
    for volume in pod["volumes"]:
        if "persistentVolumeClaim" in volume:
            assert volume["persistentVolumeClaim"]["claimName"] in claims


def test_service_selects_the_pods_and_hpa_targets_the_deployment() -> None:
    docs = k8s_docs()
    deployment = the_deployment(docs)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (service,) = [
        s for s in k8s_kind("Service", docs) if s["metadata"]["name"] == "grounding-audit"
    ]
    assert selects(service["spec"]["selector"], pod_labels)
    (port,) = service["spec"]["ports"]
    assert port["port"] == SERVICE_PORT
    assert container_port(container, port["targetPort"]) == SERVICE_PORT
    (hpa,) = k8s_kind("HorizontalPodAutoscaler", docs)
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (monitor,) = k8s_kind("ServiceMonitor", docs)
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == port["name"] and endpoint["path"] == "/metrics"


def test_redis_is_deployed_with_a_service() -> None:
    docs = k8s_docs()
    workloads = [
        w
        for w in k8s_kind("StatefulSet", docs) + k8s_kind("Deployment", docs)
        if any("redis" in c["image"] for c in w["spec"]["template"]["spec"]["containers"])
    ]
    (redis,) = workloads
    (service,) = [
        s for s in k8s_kind("Service", docs) if s["metadata"]["name"] == "grounding-redis"
    ]
    assert selects(service["spec"]["selector"], redis["spec"]["template"]["metadata"]["labels"])
    assert service["spec"]["ports"][0]["port"] == 6379


def load_render_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "render_prometheusrule", K8S / "render_prometheusrule.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prometheusrule_carries_exactly_the_rule_files() -> None:
    (rule,) = k8s_kind("PrometheusRule")
    assert rule["spec"]["groups"] == rule_groups()
    assert (K8S / "prometheusrule.yaml").read_text() == load_render_module().render(), (
        "re-run python deploy/k8s/render_prometheusrule.py"
    )


# --- bentofile ---------------------------------------------------------------------------------


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()


def test_bentofile_builds_the_service_with_the_project_dependencies() -> None:
    from bentoml._internal.bento.build_config import BentoBuildConfig

    with (REPO / "bentofile.yaml").open() as stream:
        config = BentoBuildConfig.from_yaml(stream)
    assert config.service == "service.service:GroundingService"
    assert config.include is not None
    assert {"service/**/*.py", "reference_models/**/*.py", "audits/**/*.py"} <= set(config.include)
    assert config.docker.cuda_version is not None
    assert config.python.lock_packages is False
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {r for r in project["dependencies"] if requirement_name(r) != "bentoml"}
    assert set(config.python.packages or []) == wanted


# --- tests/promql_expressions.py ---------------------------------------------------------------


def test_substitute_template_vars_fills_grafana_variables() -> None:
    expr = 'sum(rate(x{model=~"$model"}[$__rate_interval])) / y:z:rate${window} + $unknown'
    assert substitute_template_vars(expr) == (
        'sum(rate(x{model=~".*"}[1m])) / y:z:rate1h + $unknown'
    )
    assert substitute_template_vars("a:b:rate$window{m=~'${model:regex}'}", {"window": "6h"}) == (
        "a:b:rate6h{m=~'.*'}"
    )


def test_expression_extractors_walk_nested_panels_and_skip_server_expressions(
    tmp_path: Path,
) -> None:
    board = tmp_path / "board.json"
    board.write_text(
        json.dumps(
            {
                "panels": [
                    {"type": "row", "panels": [{"targets": [{"expr": "inner"}]}]},
                    {"targets": [{"expr": "a"}, {"refId": "B"}, {"expr": "b"}]},
                    {"type": "text"},
                ]
            }
        )
    )
    assert dashboard_expressions(board) == ["inner", "a", "b"]
    grafana_rules = tmp_path / "rules.yml"
    grafana_rules.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "rules": [
                            {
                                "data": [
                                    {"datasourceUid": "grounding-prom", "model": {"expr": "q"}},
                                    {"datasourceUid": "__expr__", "model": {"expression": "A"}},
                                ]
                            }
                        ]
                    }
                ]
            }
        )
    )
    assert grafana_alert_expressions(grafana_rules) == ["q"]
    first = tmp_path / "prom" / "a.yml"
    first.parent.mkdir()
    first.write_text(yaml.safe_dump({"groups": [{"rules": [{"record": "r", "expr": "e1"}]}]}))
    (tmp_path / "prom" / "b.yaml").write_text(
        yaml.safe_dump({"groups": [{"rules": [{"alert": "A", "expr": "e2"}]}]})
    )
    (tmp_path / "prom" / "notes.txt").write_text("groups: []")
    assert rule_expressions(first.parent) == ["e1", "e2"]
    assert rule_expressions(first) == ["e1"]


def test_evaluate_all_reports_success_and_errors_per_expression() -> None:
    sent: list[str] = []

    def prometheus(request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.content.decode())["query"][0]
        sent.append(query)
        assert request.url.path == "/api/v1/query"
        if query == "broken(":
            return httpx.Response(
                400, json={"status": "error", "errorType": "bad_data", "error": "parse error"}
            )
        if query == "proxy":
            return httpx.Response(502, text="<html>bad gateway</html>")
        if query == "down":
            raise httpx.ConnectError("refused", request=request)
        if query == "scalar(1)":
            return httpx.Response(
                200,
                json={"status": "success", "data": {"resultType": "scalar", "result": [0, "1"]}},
            )
        result = [{"metric": {"model": "m"}, "value": [0, "1"]}] * 2
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    client = httpx.Client(transport=httpx.MockTransport(prometheus))
    exprs = ['x{model=~"$model"}', "broken(", "proxy", "down", "scalar(1)", "broken("]
    results = evaluate_all("http://prom:9090/", exprs, client=client)

    assert sent == ['x{model=~".*"}', "broken(", "proxy", "down", "scalar(1)"]
    ok = results['x{model=~"$model"}']
    assert (ok["status"], ok["series"], ok["result_type"]) == ("success", 2, "vector")
    assert ok["query"] == 'x{model=~".*"}'
    assert results["scalar(1)"]["series"] == 1
    assert results["broken("]["error_type"] == "bad_data"
    assert results["proxy"]["error_type"] == "http"
    assert results["down"]["error_type"] == "connection"
    assert set(failures(results)) == {"broken(", "proxy", "down"}
    assert failures(results)["broken("] == "bad_data: parse error"


def test_headline_stat_panels_are_coloured_by_thresholds() -> None:
    """IS and IS_blank turn red when low (answers that ignore the image), HVRR when high."""
    panels = {p["title"]: p for p in json.loads(DASHBOARD.read_text())["panels"]}
    for title, worst_low in (("Image sensitivity (IS)", True), ("IS blank", True), ("HVRR", False)):
        steps = panels[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        colors = [step["color"] for step in steps]
        assert steps[0]["value"] is None and len(steps) >= 3, title
        assert colors[0 if worst_low else -1] == "red", (title, colors)
        assert colors[-1 if worst_low else 0] == "green", (title, colors)
        assert "Colours" in panels[title]["description"]


def test_dashboard_windows_are_those_of_the_recording_rules_and_of_stats() -> None:
    from service.settings import Settings

    variables = {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]}
    windows = [option["value"] for option in variables["window"]["options"]]
    labels = {900: "15m", 3600: "1h", 21600: "6h", 86400: "24h"}
    assert windows == [labels[s] for s in Settings().audit.drift_windows_s]
