"""The observability configuration as code, checked by the real tools from Debian's packages: promtool
(rules syntax and unit tests of every SLO alert) and amtool (Alertmanager config and its routes); and the
chart's observability objects as rendered."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

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
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_promtool_accepts_the_rules() -> None:
    assert "SUCCESS: 36 rules found" in run(tool("promtool"), "check", "rules", str(RULES))


def test_every_alert_fires_on_a_burn_and_stays_quiet_at_normal_error_rates() -> None:
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
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
