"""A deployment's model read as a cluster: its pods, the Service a name resolves to, the values a pod is given."""

from collections.abc import Iterator
from typing import Any

from folio_deploy.graph import discover
from folio_deploy.graph import settings as code
from folio_deploy.graph.model import Model
from folio_deploy.graph.pods import CLUSTER_DOMAIN, Edge, Pod, selects

# The Collector chart's own pipelines (opentelemetry-collector 0.113 values.yaml), which the release's
# `config` is merged over: every signal goes only to the debug exporter until the values say otherwise.
COLLECTOR_DEFAULT_PIPELINES = {
    "logs": {"receivers": ["otlp"], "exporters": ["debug"]},
    "metrics": {"receivers": ["otlp", "prometheus"], "exporters": ["debug"]},
    "traces": {"receivers": ["otlp", "jaeger", "zipkin"], "exporters": ["debug"]},
}


class Graph:
    """The pods, Services and policies of a model, and the edges between them (checked by graph.check)."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.pods = [self._pod(obj) for obj in model.of_kind("Deployment", "StatefulSet", "DaemonSet", "Job")]

    # -- the model read as a cluster ----------------------------------------------------------------

    def _pod(self, obj: dict[str, Any]) -> Pod:
        template = obj["spec"]["template"]
        namespace = obj["metadata"]["namespace"]
        labels = template["metadata"].get("labels") or {}
        injected = self.model.namespace_labels(namespace).get("istio-injection") == "enabled"
        label = labels.get("sidecar.istio.io/inject")
        meshed = self.model.mesh and label != "false" and (injected or label == "true")
        return Pod(
            obj["kind"],
            obj["metadata"]["name"],
            namespace,
            labels,
            template["metadata"].get("annotations") or {},
            template["spec"].get("serviceAccountName", "default"),
            template["spec"],
            meshed,
        )

    def pod(self, namespace: str, name: str) -> Pod | None:
        return next((p for p in self.pods if p.namespace == namespace and p.name == name), None)

    def service(self, host: str, from_namespace: str) -> tuple[dict[str, Any] | None, str]:
        """The Service a DNS name resolves to from a namespace (name, name.ns, name.ns.svc[.cluster.local])."""
        parts = host.split(".")
        if (host.endswith(f".svc.{CLUSTER_DOMAIN}") and len(parts) == 5) or (
            host.endswith(".svc") and len(parts) == 3
        ):
            name, namespace = parts[0], parts[1]
        elif len(parts) == 2:
            name, namespace = parts
        elif len(parts) == 1:
            name, namespace = host, from_namespace
        else:
            return None, ""
        return self.model.get("Service", namespace, name), namespace

    def backends(self, service: dict[str, Any]) -> list[Pod]:
        selector = service["spec"].get("selector")
        namespace = service["metadata"]["namespace"]
        if not selector:
            return []
        return [
            p for p in self.pods if p.namespace == namespace and selects({"matchLabels": selector}, p.labels)
        ]

    def ingress_for(self, host: str) -> dict[str, Any] | None:
        for ingress in self.model.of_kind("Ingress"):
            if any(rule.get("host") == host for rule in ingress["spec"].get("rules", [])):
                return ingress
        return None

    def principal(self, pod: Pod) -> str:
        return f"{CLUSTER_DOMAIN}/ns/{pod.namespace}/sa/{pod.service_account}"

    # -- values a pod is given ------------------------------------------------------------------------

    def value(self, pod: Pod, variable: dict[str, Any]) -> str | None:
        """An env var's value: literal, or read from the Secret / ConfigMap it names (None if unknown)."""
        if "value" in variable:
            return str(variable["value"])
        source = variable.get("valueFrom") or {}
        for kind, ref_key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            ref = source.get(ref_key)
            if ref:
                obj = self.model.get(kind, pod.namespace, ref["name"])
                data = (obj or {}).get("stringData") or (obj or {}).get("data") or {}
                found = data.get(ref["key"])
                return None if found is None else str(found)
        return None

    def env_from(self, pod: Pod) -> dict[str, str]:
        """Variables a pod takes whole from Secrets (envFrom)."""
        found: dict[str, str] = {}
        for container in pod.spec.get("containers", []):
            for source in container.get("envFrom") or []:
                ref = source.get("secretRef") or source.get("configMapRef")
                kind = "Secret" if "secretRef" in source else "ConfigMap"
                obj = self.model.get(kind, pod.namespace, ref["name"]) if ref else None
                found |= {
                    k: str(v)
                    for k, v in ((obj or {}).get("stringData") or (obj or {}).get("data") or {}).items()
                }
        return found

    # -- edges ----------------------------------------------------------------------------------------

    def app_pods(self) -> Iterator[tuple[Pod, str]]:
        """Folio's service pods with the service each runs (the env prefix its Settings read)."""
        for pod in self.pods:
            service = pod.labels.get("app.kubernetes.io/name", "")
            if (
                pod.labels.get("app.kubernetes.io/part-of") == "folio"
                and (code.REPO / "services" / service).is_dir()
            ):
                yield pod, service

    def edges(self) -> list[Edge]:
        """Every call edge of the deployment (graph.discover)."""
        return discover.edges(self)

    def identity_pods(self) -> list[Pod]:
        """Keycloak's pods (the platform's release, or the dev chart's)."""
        return [
            p for p in self.pods if any(c.get("name") == "keycloak" for c in p.spec.get("containers", []))
        ]

    def collector_pipelines(self) -> dict[str, dict[str, Any]]:
        """The Collector's pipelines as it runs them: the chart's defaults with the release's config over them."""
        release = self.model.releases.get("opentelemetry-collector")
        if release is None:
            return {}
        values = release.values
        configured = ((values.get("config") or {}).get("service") or {}).get("pipelines") or {}
        pipelines = {
            name: dict(COLLECTOR_DEFAULT_PIPELINES.get(name, {})) | dict(p) for name, p in configured.items()
        }
        for name in COLLECTOR_DEFAULT_PIPELINES.keys() - pipelines.keys():
            pipelines[name] = dict(COLLECTOR_DEFAULT_PIPELINES[name])
        presets = values.get("presets") or {}
        if (presets.get("logsCollection") or {}).get("enabled") and "filelog" not in pipelines["logs"][
            "receivers"
        ]:
            pipelines["logs"] = pipelines["logs"] | {
                "receivers": [*pipelines["logs"]["receivers"], "filelog"]
            }
        return pipelines
