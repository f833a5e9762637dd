"""Collect the PromQL of the deploy/ artefacts and evaluate it against a live Prometheus.

The dashboard, the Grafana alert rules and the Prometheus rule files all carry PromQL that only a
real Prometheus can fully check (metric names, label matching, functions). These helpers pull the
expressions out of each file format and run them through the HTTP API, so a live test can assert
that every expression parses, executes and, where the service has produced traffic, returns data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

# Concrete values for the Grafana template variables the dashboard and alert rules use.
GRAFANA_VARIABLE_DEFAULTS: dict[str, str] = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "model": ".*",
    "window": "1h",
}

# $var, ${var} and ${var:format}; Grafana's [[var]] form is deprecated and not used here.
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)")

GRAFANA_EXPRESSION_DATASOURCE = "__expr__"


def _panels(panels: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_expressions(path: str | Path) -> list[str]:
    """The PromQL of every panel target of a Grafana dashboard JSON, in panel order."""
    dashboard = json.loads(Path(path).read_text())
    return [
        target["expr"]
        for panel in _panels(dashboard.get("panels", []))
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def grafana_alert_expressions(path: str | Path) -> list[str]:
    """The PromQL of the datasource queries in a Grafana alert-rule provisioning file.

    Server-side expressions (reduce, threshold, math: datasource ``__expr__``) are not PromQL
    and are skipped.
    """
    provisioning = yaml.safe_load(Path(path).read_text())
    return [
        query["model"]["expr"]
        for group in provisioning.get("groups", [])
        for rule in group.get("rules", [])
        for query in rule.get("data", [])
        if query.get("datasourceUid") != GRAFANA_EXPRESSION_DATASOURCE
        and query.get("model", {}).get("expr")
    ]


def rule_expressions(path: str | Path) -> list[str]:
    """The expressions of all recording and alerting rules in a rule file or directory.

    A directory contributes every ``*.yml`` and ``*.yaml`` file in it, in name order.
    """
    root = Path(path)
    files = (
        sorted(p for p in root.iterdir() if p.suffix in {".yml", ".yaml"})
        if root.is_dir()
        else [root]
    )
    expressions: list[str] = []
    for file in files:
        content = yaml.safe_load(file.read_text()) or {}
        for group in content.get("groups", []):
            expressions.extend(rule["expr"] for rule in group.get("rules", []))
    return expressions


def substitute_template_vars(expr: str, values: Mapping[str, str] | None = None) -> str:
    """Replace Grafana template variables by concrete values; unknown ones are left as they are
    (Prometheus then rejects the query, which is what a check should report)."""
    table = {**GRAFANA_VARIABLE_DEFAULTS, **(values or {})}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return table.get(name, match.group(0))

    return _VARIABLE.sub(replace, expr)


def evaluate_all(
    prom_url: str,
    exprs: Iterable[str],
    *,
    variables: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> dict[str, dict[str, Any]]:
    """Run each expression as an instant query through ``/api/v1/query``.

    Returns, keyed by the original expression: ``status`` ("success" or "error"), ``error`` and
    ``error_type`` (None on success), ``result_type``, ``series`` (number of result series, or 1
    for a scalar or string) and ``query`` (the expression after template substitution).
    """
    own_client = client is None
    http = client or httpx.Client(timeout=timeout)
    url = prom_url.rstrip("/") + "/api/v1/query"
    results: dict[str, dict[str, Any]] = {}
    try:
        for expr in exprs:
            if expr in results:
                continue
            query = substitute_template_vars(expr, variables)
            results[expr] = _evaluate(http, url, query)
    finally:
        if own_client:
            http.close()
    return results


def _evaluate(http: httpx.Client, url: str, query: str) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        "query": query,
        "status": "error",
        "error": None,
        "error_type": None,
        "result_type": None,
        "series": 0,
    }
    try:
        response = http.post(url, data={"query": query})
    except httpx.HTTPError as exc:
        outcome.update(error=str(exc), error_type="connection")
        return outcome
    try:
        body = response.json()
    except ValueError:
        outcome.update(
            error=f"HTTP {response.status_code}: {response.text[:200]}", error_type="http"
        )
        return outcome
    if body.get("status") != "success":
        outcome.update(
            error=body.get("error", f"HTTP {response.status_code}"),
            error_type=body.get("errorType", "unknown"),
        )
        return outcome
    data = body.get("data", {})
    result = data.get("result")
    outcome.update(
        status="success",
        result_type=data.get("resultType"),
        series=len(result) if data.get("resultType") in {"vector", "matrix"} else 1,
    )
    return outcome


def failures(results: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Expression -> error message, for the expressions that did not evaluate."""
    return {
        expr: f"{outcome['error_type']}: {outcome['error']}"
        for expr, outcome in results.items()
        if outcome["status"] != "success"
    }
