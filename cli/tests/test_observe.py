"""`folio up --observe`: the scrape configuration it writes, and a clear refusal without Prometheus."""

from pathlib import Path

import yaml
from typer.testing import CliRunner

from folio_cli.main import app
from folio_cli.observe import ALERTMANAGER_CONFIG, RULES, prometheus_config
from folio_cli.services import SERVICES


def test_every_service_with_a_metrics_port_is_a_job_named_after_it() -> None:
    ports = {s.name: s.metrics_port for s in SERVICES if s.metrics_port is not None}
    config = prometheus_config(ports, alertmanager_port=9093)
    jobs = {c["job_name"]: c["static_configs"][0]["targets"] for c in config["scrape_configs"]}
    assert jobs == {name: [f"127.0.0.1:{port}"] for name, port in ports.items()}
    assert {"catalog", "cart", "payment", "orders", "storefront"} <= jobs.keys()
    assert config["rule_files"] == [str(RULES)]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]


def test_the_rules_and_routing_it_loads_are_the_charts() -> None:
    assert (
        RULES.parent.parent
        == ALERTMANAGER_CONFIG.parent.parent
        == Path(__file__).resolve().parents[2] / "helm" / "folio" / "files"
    )
    assert yaml.safe_load(RULES.read_text())["groups"]


def test_observe_without_prometheus_says_how_to_install_it(tmp_path: Path) -> None:
    result = CliRunner(env={"PATH": str(tmp_path), "NO_COLOR": "1"}).invoke(
        app, ["up", "--observe", "--data-dir", str(tmp_path / "data")]
    )
    assert result.exit_code == 1
    assert "apt-get install prometheus prometheus-alertmanager" in result.output
