"""`folio up --observe`: Prometheus and Alertmanager from Debian's packages beside the local shop.

Prometheus scrapes every service's metrics port and evaluates the same SLO rules the chart
installs in a cluster (helm/folio/files/prometheus/slo-rules.yml); Alertmanager routes with
the chart's configuration. Both listen on loopback only; Alertmanager's cluster gossip is off
(`--cluster.listen-address=`), so nothing is reachable from outside the machine.
"""

import json
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from folio_cli.services import HOST

REPO = Path(__file__).resolve().parents[3]
OBSERVABILITY = REPO / "helm" / "folio" / "files"
RULES = OBSERVABILITY / "prometheus" / "slo-rules.yml"
ALERTMANAGER_CONFIG = OBSERVABILITY / "alertmanager" / "alertmanager.yml"
INSTALL_HINT = "install Debian's packages: sudo apt-get install prometheus prometheus-alertmanager"


class ObserveUnavailable(RuntimeError):
    """Prometheus or Alertmanager cannot be started here (not installed, or did not come up)."""


def find_binary(*names: str) -> str | None:
    """The first of `names` on PATH (Debian names Alertmanager prometheus-alertmanager)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def prometheus_config(
    metrics_ports: Mapping[str, int],
    *,
    rules: Path = RULES,
    alertmanager_port: int | None = None,
    scrape_interval: str = "5s",
) -> dict[str, Any]:
    """A Prometheus configuration scraping each service as job=<service name>, as the cluster's
    ServiceMonitors label them, with the SLO rules and (optionally) the local Alertmanager."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": name, "static_configs": [{"targets": [f"{HOST}:{port}"]}]}
            for name, port in sorted(metrics_ports.items())
        ],
    }
    if alertmanager_port is not None:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": [f"{HOST}:{alertmanager_port}"]}]}]
        }
    return config


def _wait_ready(url: str, process: subprocess.Popen[bytes], name: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ObserveUnavailable(f"{name} exited with code {process.returncode}; see {log}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise ObserveUnavailable(f"{name} not ready after {timeout:.0f} s; see {log}")


class Observer:
    """Prometheus (and Alertmanager, when installed) for a local stack; `start`, then `stop`."""

    def __init__(
        self,
        *,
        work_dir: Path,
        metrics_ports: Mapping[str, int],
        prometheus_port: int = 9090,
        alertmanager_port: int = 9093,
        scrape_interval: str = "5s",
    ) -> None:
        self.work_dir = work_dir
        self.metrics_ports = dict(metrics_ports)
        self.prometheus_port = prometheus_port
        self.alertmanager_port = alertmanager_port
        self.scrape_interval = scrape_interval
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def prometheus_url(self) -> str:
        return f"http://{HOST}:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str | None:
        return f"http://{HOST}:{self.alertmanager_port}" if "alertmanager" in self.processes else None

    def _spawn(self, name: str, command: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.work_dir / f"{name}.log"
        with log.open("ab") as sink:
            process = subprocess.Popen(  # noqa: S603 - binaries found on PATH, arguments built here
                command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes[name] = process
        return process, log

    def start(self, timeout: float = 30.0) -> None:
        """Start Alertmanager (if installed) and Prometheus; wait until both are ready."""
        prometheus = find_binary("prometheus")
        if prometheus is None:
            raise ObserveUnavailable(f"prometheus is not installed: {INSTALL_HINT}")
        alertmanager = find_binary("prometheus-alertmanager", "alertmanager")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            if alertmanager is not None:
                process, log = self._spawn(
                    "alertmanager",
                    [
                        alertmanager,
                        f"--config.file={ALERTMANAGER_CONFIG}",
                        f"--storage.path={self.work_dir / 'alertmanager'}",
                        f"--web.listen-address={HOST}:{self.alertmanager_port}",
                        # No gossip: a single local Alertmanager, nothing listening beyond loopback.
                        "--cluster.listen-address=",
                    ],
                )
                _wait_ready(f"{self.alertmanager_url}/-/ready", process, "alertmanager", log, timeout)
            config = self.work_dir / "prometheus.yml"
            # JSON is YAML: Prometheus reads it as is.
            config.write_text(
                json.dumps(
                    prometheus_config(
                        self.metrics_ports,
                        alertmanager_port=self.alertmanager_port if alertmanager else None,
                        scrape_interval=self.scrape_interval,
                    ),
                    indent=2,
                )
            )
            process, log = self._spawn(
                "prometheus",
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.work_dir / 'prometheus'}",
                    f"--web.listen-address={HOST}:{self.prometheus_port}",
                    "--storage.tsdb.retention.time=2d",
                ],
            )
            _wait_ready(f"{self.prometheus_url}/-/ready", process, "prometheus", log, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop Prometheus, then Alertmanager."""
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
