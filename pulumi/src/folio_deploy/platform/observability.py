"""Observability: Prometheus, Alertmanager and Grafana (kube-prometheus-stack), Loki, the OpenTelemetry
Collector, and the trace store (Deepflow with its ClickHouse, else Tempo)."""

import pulumi
import yaml

from folio_deploy.platform.base import ALERTMANAGER_CONFIG, COLLECTOR_VALUES, Context, Part, _svc
from folio_deploy.resources import generated_password


class Observability(Part):
    """Every telemetry backend the stack installs and the Collector that feeds them."""

    # The OTLP endpoint the services export to (None: observability off).
    otel_endpoint: pulumi.Output[str] | None
    grafana_url: str | None

    def __init__(self, name: str, context: Context, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Observability", name, context, opts)
        on = self._config.platform
        self.otel_endpoint = None
        self.grafana_url = None
        if on.observability.enabled:
            self.otel_endpoint = self._observability()
            self.grafana_url = f"https://grafana.{self._config.domain}"
        if on.deepflow.enabled:
            self._deepflow()
        self.register_outputs({"grafanaUrl": self.grafana_url})

    def _observability(self) -> pulumi.Output[str]:
        admin = generated_password("grafana-admin-password", self)
        self._secret("grafana-admin", "observability", {"admin-user": "admin", "admin-password": admin})
        grafana_host = f"grafana.{self._config.domain}"
        small = self._config.profile == "small"
        self._release(
            "kube-prometheus-stack",
            {
                "fullnameOverride": "kps",
                "prometheus": {
                    "prometheusSpec": {
                        "replicas": 1,
                        "resources": self._res("prometheus"),
                        "retention": "2d" if small else "15d",
                        # Scrape every ServiceMonitor/PodMonitor/rule, not only the chart's own.
                        "serviceMonitorSelectorNilUsesHelmValues": False,
                        "podMonitorSelectorNilUsesHelmValues": False,
                        "ruleSelectorNilUsesHelmValues": False,
                        # The Collector pushes the metrics it receives over OTLP (remote write).
                        "enableRemoteWriteReceiver": True,
                    }
                },
                "alertmanager": {
                    "alertmanagerSpec": {"replicas": 1, "resources": self._res("alertmanager")},
                    # Folio's routing (SLO pages and tickets), the file the local stack and the tests use.
                    "config": yaml.safe_load(ALERTMANAGER_CONFIG.read_text()),
                },
                "prometheusOperator": {"resources": self._res("prometheus-operator")},
                "kube-state-metrics": {"resources": self._res("kube-state-metrics")},
                "prometheus-node-exporter": {"resources": self._res("node-exporter")},
                "grafana": {
                    "replicas": 1,
                    "resources": self._res("grafana"),
                    "admin": {
                        "existingSecret": "grafana-admin",
                        "userKey": "admin-user",
                        "passwordKey": "admin-password",
                    },
                    "ingress": {
                        "enabled": True,
                        "ingressClassName": "nginx",
                        "annotations": self._tls_annotations(),
                        "hosts": [grafana_host],
                        "tls": [{"hosts": [grafana_host], "secretName": "grafana-tls"}],
                    },
                    "additionalDataSources": [
                        {
                            "name": "Loki",
                            "type": "loki",
                            "url": "http://loki.observability.svc.cluster.local:3100",
                        },
                        *(
                            []
                            if self._config.platform.deepflow.enabled
                            else [
                                {
                                    "name": "Tempo",
                                    "type": "tempo",
                                    "url": "http://tempo.observability.svc.cluster.local:3100",
                                }
                            ]
                        ),
                    ],
                    # Dashboards as code: ConfigMaps labelled grafana_dashboard=1 in any namespace.
                    "sidecar": {"dashboards": {"enabled": True, "searchNamespace": "ALL"}},
                },
            },
        )
        self._release(
            "loki",
            {
                "deploymentMode": "SingleBinary",
                "loki": {
                    "auth_enabled": False,
                    "commonConfig": {"replication_factor": 1},
                    "storage": {"type": "filesystem"},
                    "schemaConfig": {
                        "configs": [
                            {
                                "from": "2024-01-01",
                                "store": "tsdb",
                                "object_store": "filesystem",
                                "schema": "v13",
                                "index": {"prefix": "index_", "period": "24h"},
                            }
                        ]
                    },
                },
                "singleBinary": {
                    "replicas": 1,
                    "resources": self._res("loki"),
                    "persistence": self._volume("storageClass", enabled=True, size="10Gi"),
                },
                "read": {"replicas": 0},
                "write": {"replicas": 0},
                "backend": {"replicas": 0},
                "gateway": {"enabled": False},
                "chunksCache": {"enabled": False},
                "resultsCache": {"enabled": False},
                "lokiCanary": {"enabled": False},
                "test": {"enabled": False},
            },
        )
        traces = self._traces_backend()
        collector_values = yaml.safe_load(COLLECTOR_VALUES.read_text())
        config = collector_values["config"]
        pipelines = config["service"]["pipelines"]
        pipelines["traces"]["exporters"] = [traces]
        used = {name for pipeline in pipelines.values() for name in pipeline["exporters"]}
        config["exporters"] = {
            name: exporter for name, exporter in config["exporters"].items() if name in used
        }
        collector = self._release(
            "opentelemetry-collector",
            collector_values
            | {"fullnameOverride": "otel-collector", "resources": self._res("otel-collector")},
        )
        return _svc(collector, "otel-collector", 4317, "http://")

    def _traces_backend(self) -> str:
        """Where the Collector sends traces: Deepflow (beside its eBPF spans, in its ClickHouse) where the
        stack installs it, else Tempo. Returns the Collector exporter's name."""
        if self._config.platform.deepflow.enabled:
            return "otlphttp/deepflow"
        self._release(
            "tempo",
            {
                "fullnameOverride": "tempo",
                "tempo": {
                    "resources": self._res("tempo"),
                    "retention": "48h" if self._config.profile == "small" else "336h",
                    "receivers": {
                        "otlp": {
                            "protocols": {
                                "grpc": {"endpoint": "0.0.0.0:4317"},
                                "http": {"endpoint": "0.0.0.0:4318"},
                            }
                        }
                    },
                },
                "persistence": self._volume("storageClassName", enabled=True, size="4Gi"),
            },
        )
        return "otlp/tempo"

    def _deepflow(self) -> None:
        # Deepflow's chart takes its MySQL/ClickHouse passwords as values: the whole values map is then
        # a Pulumi secret (encrypted in the state), and Helm keeps it in its release Secret.
        mysql = generated_password("deepflow-mysql-password", self)
        self._release(
            "deepflow",
            {
                "global": {"password": {"mysql": mysql}, "allInOneLocalStorage": True},
                "server": {"resources": self._res("deepflow")},
                "clickhouse": {"resources": self._res("deepflow")},
                "grafana": {"enabled": False},  # Folio's Grafana is kube-prometheus-stack's
            },
        )
