"""The observability configuration as code, checked by the real tools from Debian's packages: promtool
(rules syntax and unit tests of every SLO alert) and amtool (Alertmanager config and its routes); and the
chart's observability objects as rendered."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from folio_testing.helm import ChartCopy, load_values

from .conftest import PROFILES

HELM = Path(__file__).resolve().parents[1]
FILES = HELM / "folio" / "files"
RULES = FILES / "prometheus" / "slo-rules.yml"
RULES_TEST = HELM / "tests" / "prometheus" / "slo-rules-test.yml"
ALERTMANAGER = FILES / "alertmanager" / "alertmanager.yml"
DASHBOARDS = sorted((FILES / "dashboards").glob("*.json"))


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make system-deps` (Debian's prometheus packages)")
    return path


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_promtool_accepts_the_rules() -> None:
    assert "SUCCESS: 36 rules found" in run(tool("promtool"), "check", "rules", str(RULES))


def test_every_alert_fires_on_a_burn_and_stays_quiet_at_normal_error_rates() -> None:
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    alerts = {
        r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r
    }
    fired = {c["alertname"] for t in tests for c in t["alert_rule_test"] if c["exp_alerts"]}
    quiet = {c["alertname"] for t in tests if t["name"].startswith("normal") for c in t["alert_rule_test"]}
    # The unit tests cover every alert both ways; promtool then proves them.
    assert fired == alerts
    assert quiet == alerts
    assert "SUCCESS" in run(tool("promtool"), "test", "rules", str(RULES_TEST))


def test_alertmanager_config_is_valid_and_routes_by_severity() -> None:
    amtool = tool("amtool")
    run(amtool, "check-config", str(ALERTMANAGER))

    def route(*labels: str) -> str:
        return run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels).split()[0]

    assert route("severity=page", "slo=checkout-availability") == "page"
    assert route("severity=ticket", "slo=checkout-availability") == "ticket"
    assert route("alertname=Anything") == "ticket"


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=[d.stem for d in DASHBOARDS])
def test_dashboards_are_grafana_json_with_a_query_per_panel(dashboard: Path) -> None:
    board = json.loads(dashboard.read_text())
    assert board["uid"] == f"folio-{dashboard.stem}"
    assert board["panels"]
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"]
        assert all(t["expr"].strip() for t in panel["targets"])


SERVICES = ["assistant", "cart", "catalog", "orders", "payment", "storefront"]


def _kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_service_serves_metrics_and_is_scraped(
    rendered: dict[str, list[dict[str, Any]]], profile: str
) -> None:
    objects = rendered[profile]
    workloads = _kind(objects, "Deployment") | _kind(objects, "StatefulSet")
    services, monitors = _kind(objects, "Service"), _kind(objects, "ServiceMonitor")
    assert sorted(monitors) == SERVICES
    for name in SERVICES:
        (container,) = workloads[name]["spec"]["template"]["spec"]["containers"]
        assert {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in container["ports"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env[f"FOLIO_{name.upper()}_METRICS_PORT"] == "9464"
        assert "metrics" in {p["name"] for p in services[name]["spec"]["ports"]}
        monitor = monitors[name]["spec"]
        assert monitor["jobLabel"] == "app.kubernetes.io/name"
        assert monitor["selector"]["matchLabels"]["app.kubernetes.io/name"] == name
        assert monitor["endpoints"][0]["port"] == "metrics"
        # Only the monitoring namespace reaches the metrics port.
        (rule,) = _kind(objects, "NetworkPolicy")[f"{name}-metrics"]["spec"]["ingress"]
        assert rule["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}
        ]
        assert rule["ports"] == [{"protocol": "TCP", "port": 9464}]


def test_the_chart_ships_the_same_rules_dashboards_and_routing(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered["default"]
    (rule,) = _kind(objects, "PrometheusRule").values()
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    maps = _kind(objects, "ConfigMap")
    for dashboard in DASHBOARDS:
        board = maps[f"folio-dashboard-{dashboard.stem}"]
        assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(board["data"][f"{dashboard.stem}.json"]) == json.loads(dashboard.read_text())
    secret = _kind(objects, "Secret")["folio-alertmanager"]
    assert yaml.safe_load(secret["stringData"]["alertmanager.yaml"]) == yaml.safe_load(
        ALERTMANAGER.read_text()
    )


def test_receivers_from_values_replace_the_empty_ones(chart: ChartCopy) -> None:
    values = load_values(PROFILES["default"])
    receivers = [
        {"name": "page", "webhook_configs": [{"url": "http://pager.example/hook"}]},
        {"name": "ticket"},
    ]
    values["observability"]["alertmanager"]["receivers"] = receivers
    secret = _kind(chart.render(values), "Secret")["folio-alertmanager"]
    config = yaml.safe_load(secret["stringData"]["alertmanager.yaml"])
    assert config["receivers"] == receivers
    assert config["route"] == yaml.safe_load(ALERTMANAGER.read_text())["route"]


COLLECTOR_VALUES = HELM / "observability" / "otel-collector-values.yaml"
# Components the upstream chart's presets add to the config when enabled.
PRESET_COMPONENTS = {
    "logsCollection": ("receivers", "filelog"),
    "kubernetesAttributes": ("processors", "k8sattributes"),
}


def test_collector_pipelines_use_defined_components_and_reach_each_backend() -> None:
    values = yaml.safe_load(COLLECTOR_VALUES.read_text())
    config = values["config"]
    defined = {kind: set(config.get(kind, {})) for kind in ("receivers", "processors", "exporters")}
    for preset, (kind, component) in PRESET_COMPONENTS.items():
        if values["presets"][preset]["enabled"]:
            defined[kind].add(component)
    pipelines = config["service"]["pipelines"]
    for name, pipeline in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            undefined = set(pipeline.get(kind, [])) - defined[kind]
            assert not undefined, f"pipeline {name} uses undefined {kind}: {undefined}"
        assert pipeline["processors"][0] == "memory_limiter", name
        assert pipeline["processors"][-1] == "batch", name
    # The Pulumi program keeps the exporter of the backend its stack installs (Deepflow or Tempo).
    assert pipelines["traces"]["exporters"] == ["otlphttp/deepflow"]
    assert {"otlphttp/deepflow", "otlp/tempo"} <= defined["exporters"]
    assert pipelines["logs"]["exporters"] == ["otlphttp/loki"]
    assert "filelog" in pipelines["logs"]["receivers"]
    assert pipelines["metrics"]["exporters"] == ["prometheusremotewrite"]
