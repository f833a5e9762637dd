"""The Grafana dashboards against Grafana's own dashboard schema.

No Grafana server installs here (no Debian, PyPI or npm package carries one, and Docker has no
engine), so the check is the schema Grafana publishes: @grafana/schema, the types Grafana
generates from its CUE kinds, pinned to the Grafana that deploy/docker-compose.yml runs and turned
into a JSON Schema by tests/grafana_schema/ (installed by scripts/setup.sh). With jsonschema:

- the dashboard, each panel and each row against Dashboard, Panel and RowPanel as published:
  an unknown field, a wrong type or a missing required field fails;
- each panel's options and fieldConfig.defaults.custom against its plugin's Options and
  FieldConfig: every field known and of its type, none required at any depth, since Grafana
  deep-merges the plugin's defaults into what a dashboard leaves out (getPanelOptionsWithDefaults);
- a panel type whose plugin schema tests/grafana_schema/schemas.ts does not list fails.

Targets are not checked: the published Panel leaves their fields to the data source, whose
schema @grafana/schema does not carry; tests/integration/test_promtool.py checks their PromQL.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

REPO = Path(__file__).resolve().parents[3]
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
GRAFANA_DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "grounding.json"
SCHEMA_TOOL = REPO / "tests" / "grafana_schema"

Schemas = dict[str, Any]


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    if shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed (scripts/setup.sh installs them)")
    if not (SCHEMA_TOOL / "node_modules" / "@grafana" / "schema").is_dir():
        pytest.fail(f"{SCHEMA_TOOL.relative_to(REPO)} is not installed: run ./scripts/setup.sh")
    result = subprocess.run(
        ["npm", "run", "--silent", "schema"],
        cwd=SCHEMA_TOOL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    root = document["definitions"]["GrafanaSchemas"]["properties"]
    Draft7Validator.check_schema(root["dashboard"])
    return root


def _partial(schema: Any) -> Any:
    """The schema with no property required at any depth."""
    if isinstance(schema, list):
        return [_partial(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: _partial(value)
        for key, value in schema.items()
        if not (key == "required" and isinstance(value, list))
    }


def _errors(schema: dict[str, Any], instance: Any, where: str) -> list[str]:
    found = Draft7Validator(schema).iter_errors(instance)
    return [
        f"{where}{''.join(f'.{part}' for part in error.absolute_path)}: {error.message}"
        for error in sorted(found, key=lambda e: [str(p) for p in e.absolute_path])
    ]


def _panel_errors(panel: dict[str, Any], schemas: Schemas, where: str) -> list[str]:
    kind = panel.get("type")
    if kind == "row":
        found = _errors(_with_any_panels(schemas["row"]), panel, where)
        for index, inner in enumerate(panel.get("panels", [])):
            found += _panel_errors(inner, schemas, f"{where}.panels.{index}")
        return found
    found = _errors(schemas["panel"], panel, where)
    plugins = schemas["plugins"]["properties"]
    if kind not in plugins:
        return [*found, f"{where}: no plugin schema for panel type {kind!r} in schemas.ts"]
    plugin = plugins[kind]["properties"]
    found += _errors(_partial(plugin["options"]), panel.get("options", {}), f"{where}.options")
    custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {})
    found += _errors(_partial(plugin["custom"]), custom, f"{where}.fieldConfig.defaults.custom")
    return found


def _with_any_panels(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its panels left to _panel_errors, which names the failing field (a
    Panel | RowPanel union would only say that no branch matched)."""
    loose = copy.deepcopy(schema)
    loose["properties"]["panels"]["items"] = {"type": "object"}
    return loose


def schema_errors(board: dict[str, Any], schemas: Schemas) -> list[str]:
    """Every place where the dashboard departs from Grafana's published schema."""
    found = _errors(_with_any_panels(schemas["dashboard"]), board, "dashboard")
    for index, panel in enumerate(board.get("panels", [])):
        title = panel.get("title", panel.get("type"))
        found += _panel_errors(panel, schemas, f"panels.{index} ({title})")
    return found


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_follows_grafanas_published_schema(path: Path, schemas: Schemas) -> None:
    assert schema_errors(json.loads(path.read_text()), schemas) == []


def _panel(board: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(p for p in board["panels"] if p["type"] == kind)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(board: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = board
        for part in parents:
            node = _panel(board, part[1:]) if part.startswith("@") else node[part]
        node[last] = value

    return change


BROKEN = {
    "grid width as a string": (_set("@timeseries.gridPos.w", "12"), "'12' is not of type"),
    "unknown dashboard field": (_set("refreshInterval", "1m"), "'refreshInterval' was unexpected"),
    "no schemaVersion": (lambda b: b.pop("schemaVersion"), "'schemaVersion' is a required"),
    "misspelt panel field": (_set("@stat.fieldconfig", {}), "'fieldconfig' was unexpected"),
    "threshold mode": (
        _set("@stat.fieldConfig.defaults.thresholds", {"mode": "absolut", "steps": []}),
        "'absolut' is not one of",
    ),
    "threshold value as text": (
        _set(
            "@stat.fieldConfig.defaults.thresholds",
            {"mode": "absolute", "steps": [{"color": "red", "value": "0.1"}]},
        ),
        "'0.1' is not of type",
    ),
    "stat colour mode": (_set("@stat.options.colorMode", "rainbow"), "'rainbow' is not one of"),
    "legend not an object": (_set("@timeseries.options.legend", "bottom"), "is not of type"),
    "custom line width as text": (
        _set("@timeseries.fieldConfig.defaults.custom", {"lineWidth": "2"}),
        "'2' is not of type",
    ),
    "custom field on stat": (
        _set("@stat.fieldConfig.defaults.custom", {"lineWidth": 2}),
        "custom.lineWidth",
    ),
    "variable type": (
        lambda b: b["templating"]["list"][0].update(type="dropdown"),
        "'dropdown' is not one of",
    ),
    "panel type without a schema": (_set("@stat.type", "piechart"), "no plugin schema"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_schema_check_rejects_a_broken_dashboard(case: str, schemas: Schemas) -> None:
    change, expected = BROKEN[case]
    board = json.loads(GRAFANA_DASHBOARD.read_text())
    change(board)
    errors = schema_errors(board, schemas)
    assert any(expected in error for error in errors), errors


def test_schema_package_is_the_deployed_grafana() -> None:
    """Bumping the Grafana image bumps the schema it is checked against, and back."""
    image = yaml.safe_load((REPO / "deploy" / "docker-compose.yml").read_text())["services"][
        "grafana"
    ]["image"]
    deployed = image.rpartition(":")[2]
    manifest = json.loads((SCHEMA_TOOL / "package.json").read_text())
    assert manifest["devDependencies"]["@grafana/schema"] == deployed
    lock = json.loads((SCHEMA_TOOL / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@grafana/schema"]["version"] == deployed
