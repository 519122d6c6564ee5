"""Every call edge of a deployment, derived from the code and the platform, and what breaks each one.

Edges come from what the pods are given, read with the services' own Settings (graph.settings): each
address a service is configured with (service addresses, database/redis/graph/vector/LLM URLs, the
identity provider, Nacos, the OTLP endpoint), the gateway's routes, the Ingress, and the platform's own
wiring (Keycloak's directory and database, the Collector's exporters, Prometheus' ServiceMonitors,
Grafana's data sources). For each edge the checker follows the name to a Service and its pods, then asks
the NetworkPolicies of both ends, Istio (mTLS mode, AuthorizationPolicies, which address is dialled) and
checks the Secrets, settings and telemetry pipelines the pods depend on, and the mesh's retries
(graph.retries: nothing that could act twice is retried, and retries have a budget).
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from folio_deploy.graph import guards
from folio_deploy.graph import settings as code
from folio_deploy.graph.model import CRD_GROUPS, Finding, Model
from folio_deploy.graph.platform import DATA_STORES, DESCRIBED
from folio_deploy.graph.retries import check_retries

CLUSTER_DOMAIN = "cluster.local"
# Settings that hold an address a service dials (the shop's own public URL is given to browsers instead).
ADDRESS_SUFFIXES = ("_url", "_addresses")
NOT_DIALLED = {"public_url", "issuer_url"}
DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "postgresql": 5432,
    "redis": 6379,
    "neo4j": 7687,
    "bolt": 7687,
    "ldap": 389,
    "ldaps": 636,
    "tcp": 0,
}
# The Collector chart's own pipelines (opentelemetry-collector 0.113 values.yaml), which the release's
# `config` is merged over: every signal goes only to the debug exporter until the values say otherwise.
COLLECTOR_DEFAULT_PIPELINES = {
    "logs": {"receivers": ["otlp"], "exporters": ["debug"]},
    "metrics": {"receivers": ["otlp", "prometheus"], "exporters": ["debug"]},
    "traces": {"receivers": ["otlp", "jaeger", "zipkin"], "exporters": ["debug"]},
}


@dataclass(frozen=True)
class Pod:
    """A workload's pod template: what policies select, who it is in the mesh, what it reads."""

    kind: str
    name: str
    namespace: str
    labels: dict[str, str]
    annotations: dict[str, str]
    service_account: str
    spec: dict[str, Any]
    meshed: bool

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def container_port(self, port: int | str) -> int | None:
        for container in self.spec.get("containers", []):
            for declared in container.get("ports", []):
                if port in (declared.get("name"), declared.get("containerPort")):
                    return int(declared["containerPort"])
        return port if isinstance(port, int) else None

    def env(self) -> dict[str, dict[str, Any]]:
        return {
            item["name"]: item
            for container in self.spec.get("containers", [])
            for item in container.get("env") or []
        }


@dataclass(frozen=True)
class Edge:
    """One connection a pod opens: to `host:port`, because of `why`."""

    source: Pod
    host: str
    port: int
    why: str
    # "service": the Service's name (the mesh routes it); "pod": addresses from a registry or endpoints.
    dial: str = "service"
    # The Host / :authority the request carries, when it is not the dialled name (a gateway passing the shop's host).
    authority: str | None = None
    signal: str | None = None

    def __str__(self) -> str:
        return f"{self.source.key} -> {self.host}:{self.port} ({self.why})"


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against labels; an empty selector selects all."""
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        present = expression["key"] in labels
        value = labels.get(expression["key"])
        if not {
            "In": present and value in expression.get("values", []),
            "NotIn": not present or value not in expression.get("values", []),
            "Exists": present,
            "DoesNotExist": not present,
        }[expression["operator"]]:
            return False
    return True


class Graph:
    """The pods, Services and policies of a model, and the checks over its edges."""

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
        found: list[Edge] = []
        for pod, service in self.app_pods():
            found += self._service_edges(pod, service)
        found += self._gateway_edges() + self._ingress_edges() + self._platform_edges()
        return found

    def _url_edge(self, pod: Pod, url: str, why: str, signal: str | None = None) -> Edge | None:
        if "://" not in url:
            url = f"tcp://{url}"
        parts = urlsplit(url)
        if not parts.hostname:
            return None
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.split("+")[0], 0)
        return Edge(pod, parts.hostname, port, why, signal=signal)

    def _service_edges(self, pod: Pod, service: str) -> list[Edge]:
        settings = code.service_settings(service)
        env = pod.env()
        edges: list[Edge] = []
        registry = self._registry_dial(pod)
        addresses_var = settings.variable("service_addresses")
        raw = self.value(pod, env[addresses_var]) if addresses_var in env else None
        addresses = json.loads(raw) if raw else {}
        for callee in code.callees(service):
            for address in str(addresses.get(callee, "")).split(","):
                if address:
                    host, _, port = address.rpartition(":")
                    edges.append(Edge(pod, host, int(port), f"{addresses_var}[{callee}]", dial=registry))
        for name in settings.fields:
            variable = settings.variable(name)
            if (
                name.endswith(ADDRESS_SUFFIXES)
                and name not in NOT_DIALLED | {"service_addresses"}
                and variable in env
            ):
                url = self.value(pod, env[variable])
                if url and (edge := self._url_edge(pod, url, variable)):
                    edges.append(edge)
        auth = code.platform_settings()["AuthSettings"]
        for name in ("discovery_url", "issuer_url"):
            variable = auth.variable(name)
            if name in auth.fields and variable in env and (url := self.value(pod, env[variable])):
                if edge := self._url_edge(pod, url, f"{variable} (discovery, JWKS, token)"):
                    edges.append(edge)
                break
        center = code.platform_settings()["CenterSettings"]
        nacos = (
            self.value(pod, env[center.variable("nacos_server_addresses")])
            if center.variable("nacos_server_addresses") in env
            else None
        )
        for address in (nacos or "").split(","):
            if address:
                host, _, port = address.rpartition(":")
                # The SDK speaks HTTP on the port and gRPC on port + 1000.
                edges.append(Edge(pod, host, int(port), "FOLIO_NACOS_SERVER_ADDRESSES (HTTP)"))
                edges.append(Edge(pod, host, int(port) + 1000, "FOLIO_NACOS_SERVER_ADDRESSES (gRPC)"))
        otlp = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        url = self.value(pod, otlp) if otlp else None
        if url and (edge := self._url_edge(pod, url, "OTEL_EXPORTER_OTLP_ENDPOINT", signal="traces")):
            edges.append(edge)
        return edges

    def _registry_dial(self, pod: Pod) -> str:
        """What a client dials when Nacos discovery is on: whatever its callees advertise."""
        env = pod.env()
        if "FOLIO_NACOS_SERVER_ADDRESSES" not in env:
            return "service"
        advertise = env.get("FOLIO_ADVERTISE_HOST")
        if advertise is None or "fieldRef" in (advertise.get("valueFrom") or {}):
            return "pod"  # the pod's own address (its IP): the mesh sees an address no Service owns
        return "service"

    def _gateway_pod(self) -> Pod | None:
        release = self.model.releases.get("apisix")
        if release is None:
            return None
        name = release.values.get("fullnameOverride", "apisix")
        return self.pod(release.namespace, name)

    def _gateway_edges(self) -> list[Edge]:
        gateway = self._gateway_pod()
        edges = []
        for route in self.model.of_kind("ApisixRoute"):
            namespace = route["metadata"]["namespace"]
            if gateway is None:
                continue
            for rule in route["spec"].get("http", []):
                rewrite = next((p for p in rule.get("plugins", []) if p["name"] == "proxy-rewrite"), None)
                authority = ((rewrite or {}).get("config") or {}).get("host") or (
                    rule.get("match") or {}
                ).get("hosts", [None])[0]
                for backend in rule.get("backends", []):
                    host = f"{backend['serviceName']}.{namespace}.svc.{CLUSTER_DOMAIN}"
                    dial = "service" if backend.get("resolveGranularity") == "service" else "pod"
                    edges.append(
                        Edge(
                            gateway,
                            host,
                            int(backend["servicePort"]),
                            f"ApisixRoute {rule['name']}",
                            dial,
                            authority,
                        )
                    )
        return edges

    def _ingress_edges(self) -> list[Edge]:
        release = self.model.releases.get("ingress-nginx")
        if release is None:
            return []
        controller = self.pod(
            release.namespace, f"{release.values.get('fullnameOverride', 'ingress-nginx')}-controller"
        )
        edges = []
        for ingress in self.model.of_kind("Ingress"):
            namespace = ingress["metadata"]["namespace"]
            for rule in ingress["spec"].get("rules", []):
                for path in (rule.get("http") or {}).get("paths", []):
                    backend = path["backend"]["service"]
                    host = f"{backend['name']}.{namespace}.svc.{CLUSTER_DOMAIN}"
                    if controller is not None:
                        edges.append(
                            Edge(
                                controller,
                                host,
                                int(backend["port"]["number"]),
                                f"Ingress {rule['host']}{path['path']}",
                                "pod",
                            )
                        )
        return edges

    def _platform_edges(self) -> list[Edge]:
        edges: list[Edge] = []
        releases = self.model.releases
        for keycloak in self.identity_pods():
            realm = self.env_from(keycloak)
            if url := realm.get("FOLIO_IDENTITY_LDAP_URL"):
                edges += [e for e in [self._url_edge(keycloak, url, "realm LDAP federation")] if e]
            if "keycloak" in releases and keycloak.namespace == releases["keycloak"].namespace:
                database = releases["keycloak"].values.get("database") or {}
                if database.get("hostname"):
                    edges.append(
                        Edge(
                            keycloak,
                            database["hostname"],
                            int(database.get("port", 5432)),
                            "Keycloak database",
                        )
                    )
        if "opentelemetry-collector" in releases:
            release = releases["opentelemetry-collector"]
            collector = self.pod(
                release.namespace, release.values.get("fullnameOverride", "opentelemetry-collector")
            )
            exporters = (release.values.get("config") or {}).get("exporters") or {}
            for signal, pipeline in self.collector_pipelines().items():
                for name in pipeline.get("exporters", []):
                    exporter = exporters.get(name) or {}
                    url = exporter.get("endpoint") or exporter.get("traces_endpoint")
                    if (
                        collector
                        and url
                        and (
                            edge := self._url_edge(
                                collector, str(url), f"collector {signal} -> {name}", signal
                            )
                        )
                    ):
                        edges.append(edge)
        if "kube-prometheus-stack" in releases:
            release = releases["kube-prometheus-stack"]
            name = release.values.get("fullnameOverride", "kube-prometheus-stack")
            prometheus = self.pod(release.namespace, f"prometheus-{name}-prometheus")
            for monitor in self.model.of_kind("ServiceMonitor"):
                namespace = monitor["metadata"]["namespace"]
                for service in self.model.of_kind("Service"):
                    if service["metadata"]["namespace"] == namespace and selects(
                        monitor["spec"]["selector"], service["metadata"].get("labels") or {}
                    ):
                        for endpoint in monitor["spec"].get("endpoints", []):
                            port = next(
                                (
                                    p["port"]
                                    for p in service["spec"]["ports"]
                                    if p.get("name") == endpoint.get("port")
                                ),
                                None,
                            )
                            if prometheus and port:
                                edges.append(
                                    Edge(
                                        prometheus,
                                        f"{service['metadata']['name']}.{namespace}",
                                        int(port),
                                        f"ServiceMonitor {monitor['metadata']['name']}",
                                        "pod",
                                        signal="metrics",
                                    )
                                )
            grafana = self.pod(release.namespace, "kube-prometheus-stack-grafana")
            for source in (release.values.get("grafana") or {}).get("additionalDataSources") or []:
                if grafana and (
                    edge := self._url_edge(grafana, source["url"], f"Grafana data source {source['name']}")
                ):
                    edges.append(edge)
        return edges

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

    # -- checks ---------------------------------------------------------------------------------------

    def check(self) -> list[Finding]:
        findings: list[Finding] = []
        for edge in self.edges():
            findings += self.check_edge(edge)
        findings += self.check_principals() + self.check_references() + self.check_settings()
        findings += self.check_telemetry() + self.check_installed() + self.check_identity()
        findings += self.check_fences() + self.check_registry() + self.check_gateway() + self.check_qdrant()
        findings += check_retries(self.model)
        return findings + guards.check(self)

    def check_edge(self, edge: Edge) -> list[Finding]:
        subject = str(edge)
        service, namespace = self.service(edge.host, edge.source.namespace)
        if service is None:
            ingress = self.ingress_for(edge.host)
            if ingress is not None:
                return self._check_external(edge, subject)
            return [Finding("dns", subject, f"{edge.host} is no Service of this deployment")]
        ports = service["spec"].get("ports") or []
        port = next((p for p in ports if int(p["port"]) == edge.port), None)
        if port is None:
            return [
                Finding(
                    "dns",
                    subject,
                    f"Service {namespace}/{service['metadata']['name']} has no port {edge.port} (it has {[p['port'] for p in ports]})",
                )
            ]
        if service["spec"].get("type") == "ExternalName":
            return self.check_edge(
                Edge(
                    edge.source,
                    service["spec"]["externalName"],
                    edge.port,
                    edge.why,
                    edge.dial,
                    edge.authority,
                    edge.signal,
                )
            )
        targets = self.backends(service)
        if not targets:
            return [
                Finding("dns", subject, f"Service {namespace}/{service['metadata']['name']} selects no pod")
            ]
        findings: list[Finding] = []
        for target in targets:
            target_port = target.container_port(port.get("targetPort", port["port"]))
            if target_port is None:
                findings.append(
                    Finding("dns", subject, f"{target.key} has no container port {port.get('targetPort')}")
                )
                continue
            findings += self._check_policies(edge, target, target_port, subject)
            findings += self._check_mesh(edge, target, target_port, service, subject)
        return findings

    def _check_external(self, edge: Edge, subject: str) -> list[Finding]:
        """A public host the stack serves through its Ingress: the pod needs egress to the internet."""
        if self._egress_policies(edge.source) and not any(
            self._rule_allows(rule, None, None, edge.port, external=True)
            for policy in self._egress_policies(edge.source)
            for rule in policy["spec"].get("egress") or []
        ):
            return [
                Finding(
                    "policy",
                    subject,
                    f"egress of {edge.source.key} allows no connection to the public address of {edge.host}:{edge.port}",
                )
            ]
        return []

    def _policies(self, pod: Pod, policy_type: str) -> list[dict[str, Any]]:
        return [
            policy
            for policy in self.model.of_kind("NetworkPolicy")
            if policy["metadata"]["namespace"] == pod.namespace
            and policy_type in policy["spec"].get("policyTypes", ["Ingress"])
            and selects(policy["spec"].get("podSelector"), pod.labels)
        ]

    def _egress_policies(self, pod: Pod) -> list[dict[str, Any]]:
        return self._policies(pod, "Egress")

    def _rule_allows(
        self,
        rule: dict[str, Any],
        peer: Pod | None,
        peer_namespace: str | None,
        port: int,
        external: bool = False,
    ) -> bool:
        ports = rule.get("ports")
        if ports and not any(p.get("port") in (port, None) for p in ports):
            return False
        peers = rule.get("to", rule.get("from"))
        if peers is None:
            return True
        for candidate in peers:
            if "ipBlock" in candidate:
                if external:
                    return True
                continue
            if external or peer is None:
                continue
            if "namespaceSelector" in candidate:
                if not selects(candidate["namespaceSelector"], self.model.namespace_labels(peer.namespace)):
                    continue
            elif peer.namespace != peer_namespace:
                continue
            if selects(candidate.get("podSelector"), peer.labels):
                return True
        return False

    def _check_policies(self, edge: Edge, target: Pod, port: int, subject: str) -> list[Finding]:
        findings = []
        egress = self._policies(edge.source, "Egress")
        if egress and not any(
            self._rule_allows(rule, target, edge.source.namespace, port)
            for policy in egress
            for rule in policy["spec"].get("egress") or []
        ):
            findings.append(
                Finding("policy", subject, f"egress of {edge.source.key} does not allow {target.key}:{port}")
            )
        ingress = self._policies(target, "Ingress")
        if ingress and not any(
            self._rule_allows(rule, edge.source, target.namespace, port)
            for policy in ingress
            for rule in policy["spec"].get("ingress") or []
        ):
            findings.append(
                Finding(
                    "policy", subject, f"ingress of {target.key} does not allow {edge.source.key} on {port}"
                )
            )
        return findings

    def _selected(self, kind: str, target: Pod) -> list[dict[str, Any]]:
        return [
            obj
            for obj in self.model.of_kind(kind)
            if obj["metadata"]["namespace"] in (target.namespace, "istio-system")
            and selects((obj["spec"].get("selector") or {}), target.labels)
        ]

    def _check_mesh(
        self, edge: Edge, target: Pod, port: int, service: dict[str, Any], subject: str
    ) -> list[Finding]:
        if not target.meshed:
            return []
        findings = []
        excluded = str(target.annotations.get("traffic.sidecar.istio.io/excludeInboundPorts", "")).split(",")
        if str(port) in excluded:
            return []
        strict = any(
            p["spec"].get("mtls", {}).get("mode") == "STRICT"
            for p in self._selected("PeerAuthentication", target)
        )
        host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.{CLUSTER_DOMAIN}"
        routed = [vs for vs in self.model.of_kind("VirtualService") if host in vs["spec"].get("hosts", [])]
        if strict and not edge.source.meshed:
            findings.append(
                Finding(
                    "mesh",
                    subject,
                    f"{target.key} requires mTLS (STRICT) but {edge.source.key} has no sidecar",
                )
            )
        elif strict and edge.dial == "pod" and routed:
            findings.append(
                Finding(
                    "mesh",
                    subject,
                    f"{edge.source.key} dials {target.key}'s pod address: Istio neither applies {host}'s routes (timeouts, retries) nor keeps mTLS",
                )
            )
        elif routed and edge.authority and edge.authority not in (host, edge.host):
            findings.append(
                Finding(
                    "mesh",
                    subject,
                    f"requests carry Host {edge.authority}: the sidecar matches no route of {host} (timeouts, retries, faults do not apply)",
                )
            )
        policies = [
            p
            for p in self._selected("AuthorizationPolicy", target)
            if p["spec"].get("action", "ALLOW") == "ALLOW"
        ]
        if policies:
            allowed = edge.source.meshed and any(
                self.principal(edge.source) in source.get("source", {}).get("principals", [])
                and all(
                    str(port) in (op.get("operation") or {}).get("ports", [str(port)])
                    for op in rule.get("to") or [{}]
                )
                for policy in policies
                for rule in policy["spec"].get("rules") or []
                for source in rule.get("from") or []
            )
            if not allowed:
                findings.append(
                    Finding(
                        "mesh",
                        subject,
                        f"no AuthorizationPolicy of {target.key} allows {self.principal(edge.source) if edge.source.meshed else 'a caller without mesh identity'} on port {port}",
                    )
                )
        return findings

    def check_principals(self) -> list[Finding]:
        """Every principal an AuthorizationPolicy names is the service account of a meshed workload."""
        meshed = {self.principal(p) for p in self.pods if p.meshed}
        findings = []
        for policy in self.model.of_kind("AuthorizationPolicy"):
            for rule in policy["spec"].get("rules") or []:
                for source in rule.get("from") or []:
                    for principal in source.get("source", {}).get("principals", []):
                        if principal not in meshed:
                            findings.append(
                                Finding(
                                    "mesh",
                                    f"AuthorizationPolicy {policy['metadata']['namespace']}/{policy['metadata']['name']}",
                                    f"principal {principal} is no meshed workload's service account",
                                )
                            )
        return findings

    def check_references(self) -> list[Finding]:
        """Every Secret / ConfigMap key a pod reads, and its service account, exists or is made by the stack
        (a described platform chart makes its own service accounts)."""
        findings = []
        made = {
            (c["metadata"].get("namespace"), c["spec"]["secretName"])
            for c in self.model.of_kind("Certificate")
        }
        for pod in self.pods:
            refs: list[tuple[str, str, str | None]] = []
            for container in pod.spec.get("containers", []):
                for variable in container.get("env") or []:
                    source = variable.get("valueFrom") or {}
                    for kind, ref in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                        if ref in source and not source[ref].get("optional"):
                            refs.append((kind, source[ref]["name"], source[ref]["key"]))
                for source in container.get("envFrom") or []:
                    if "secretRef" in source:
                        refs.append(("Secret", source["secretRef"]["name"], None))
                    if "configMapRef" in source:
                        refs.append(("ConfigMap", source["configMapRef"]["name"], None))
            for volume in pod.spec.get("volumes") or []:
                sources = [volume, *((volume.get("projected") or {}).get("sources") or [])]
                for source in sources:
                    if "secret" in source:
                        secret = source["secret"]
                        refs.append(("Secret", secret.get("secretName") or secret["name"], None))
                    if "configMap" in source:
                        refs.append(("ConfigMap", source["configMap"]["name"], None))
            obj = self.model.get(pod.kind, pod.namespace, pod.name)
            described = ((obj or {}).get("metadata", {}).get("annotations") or {}).get(DESCRIBED)
            if not described and pod.service_account != "default":
                refs.append(("ServiceAccount", pod.service_account, None))
            for kind, name, key in refs:
                if kind == "Secret" and (pod.namespace, name) in made:
                    continue
                obj = self.model.get(kind, pod.namespace, name)
                if obj is None:
                    findings.append(
                        Finding(
                            "secret", pod.key, f"reads {kind} {name}, which this deployment does not make"
                        )
                    )
                elif key is not None and key not in ((obj.get("stringData") or {}) | (obj.get("data") or {})):
                    findings.append(
                        Finding(
                            "secret",
                            pod.key,
                            f"reads key {key} of {kind} {name}, which has {sorted((obj.get('stringData') or {}) | (obj.get('data') or {}))}",
                        )
                    )
        return findings

    def check_settings(self) -> list[Finding]:
        """Every setting a service requires (a Settings field without default) is given a value."""
        findings = []
        required_everywhere = code.platform_settings()["AuthSettings"].required
        for pod, service in self.app_pods():
            env = pod.env()
            for variable in [*code.service_settings(service).required, *required_everywhere]:
                if variable not in env or ("value" in env[variable] and not env[variable]["value"]):
                    findings.append(Finding("env", pod.key, f"{variable} is required and not set"))
            for callee in code.callees(service):
                addresses = code.service_settings(service).variable("service_addresses")
                raw = self.value(pod, env[addresses]) if addresses in env else None
                if callee not in json.loads(raw or "{}"):
                    findings.append(
                        Finding(
                            "env",
                            pod.key,
                            f"calls {callee} but {addresses} gives no address for it (the default is 127.0.0.1)",
                        )
                    )
            environment = code.platform_settings()["CenterSettings"].variable("environment")
            if environment not in env:
                findings.append(
                    Finding("env", pod.key, f"{environment} is unset: production would accept failure drills")
                )
        return findings

    def check_telemetry(self) -> list[Finding]:
        """Each signal a service emits reaches a backend the stack installs."""
        findings: list[Finding] = []
        pods = list(self.app_pods())
        if not pods or not {"opentelemetry-collector", "kube-prometheus-stack"} & self.model.releases.keys():
            # No telemetry backend installed (skaffold dev, observability off): logs stay on stdout for
            # kubectl and skaffold; a service with an OTLP endpoint is still checked as an edge.
            return findings
        edges = self.edges()
        pipelines = self.collector_pipelines()
        release = self.model.releases.get("opentelemetry-collector")
        for pod, _ in pods:
            env = pod.env()
            if "OTEL_EXPORTER_OTLP_ENDPOINT" not in env or not self.value(
                pod, env["OTEL_EXPORTER_OTLP_ENDPOINT"]
            ):
                findings.append(Finding("pipeline", pod.key, "traces: no OTLP endpoint, spans go nowhere"))
            if not any(e.signal == "metrics" and self._lands_on(e, pod) for e in edges):
                findings.append(
                    Finding("pipeline", pod.key, "metrics: no Prometheus scrapes its metrics port")
                )
        if release is None:
            findings.append(
                Finding("pipeline", "collector", "logs: no Collector is installed to ship pod logs")
            )
            return findings
        collector_kind = release.values.get("mode") or "deployment"
        for signal, receiver in (("traces", "otlp"), ("logs", "filelog")):
            pipeline = pipelines.get(signal) or {}
            if receiver not in pipeline.get("receivers", []):
                findings.append(
                    Finding(
                        "pipeline", f"collector {signal}", f"the {signal} pipeline has no {receiver} receiver"
                    )
                )
            backends = [e for e in edges if e.signal == signal and e.why.startswith("collector")]
            if not backends:
                findings.append(
                    Finding(
                        "pipeline",
                        f"collector {signal}",
                        f"the {signal} pipeline exports to no installed backend ({pipeline.get('exporters')})",
                    )
                )
        if "filelog" in pipelines.get("logs", {}).get("receivers", []) and collector_kind != "daemonset":
            findings.append(
                Finding(
                    "pipeline",
                    "collector logs",
                    "the filelog receiver reads the node's pod logs: the Collector must run on every node (mode daemonset)",
                )
            )
        return findings

    def _lands_on(self, edge: Edge, pod: Pod) -> bool:
        service, _ = self.service(edge.host, edge.source.namespace)
        return service is not None and pod in self.backends(service)

    def check_installed(self) -> list[Finding]:
        """Objects of a CRD's API group need the release that installs it; alert routing must reach Alertmanager."""
        findings = []
        for obj in self.model.objects:
            group = str(obj.get("apiVersion", "")).split("/")[0]
            release = CRD_GROUPS.get(group)
            if (
                release
                and release not in self.model.releases
                and not obj["metadata"].get("annotations", {}).get(DESCRIBED)
            ):
                findings.append(
                    Finding(
                        "install",
                        f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}",
                        f"needs the {group} CRDs, which {release} installs and this deployment does not",
                    )
                )
        kps = self.model.releases.get("kube-prometheus-stack")
        if kps is not None:
            alertmanager = kps.values.get("alertmanager") or {}
            secret = (alertmanager.get("alertmanagerSpec") or {}).get("configSecret")
            if not alertmanager.get("config") and not (
                secret and self.model.get("Secret", kps.namespace, secret)
            ):
                findings.append(
                    Finding(
                        "pipeline",
                        "alertmanager",
                        "Alertmanager runs the chart's default routing: Folio's alert routes reach no receiver",
                    )
                )
        return findings

    def check_identity(self) -> list[Finding]:
        """Keycloak: the realm imported on install, the directory read over TLS by a read-only account,
        the admin console off the public host."""
        findings = []
        for keycloak in self.identity_pods():
            container = keycloak.spec["containers"][0]
            mounts = [m.get("mountPath", "") for m in container.get("volumeMounts") or []]
            arguments = [*(container.get("command") or []), *(container.get("args") or [])]
            if "--import-realm" not in arguments or not any(
                m.startswith("/opt/keycloak/data/import") for m in mounts
            ):
                findings.append(
                    Finding(
                        "identity",
                        keycloak.key,
                        "the folio realm is imported by nothing on install "
                        "(kc.sh start --import-realm with the realm file in /opt/keycloak/data/import)",
                    )
                )
            realm = self.env_from(keycloak)
            url = realm.get("FOLIO_IDENTITY_LDAP_URL", "")
            if (
                url
                and not url.startswith("ldaps://")
                and realm.get("FOLIO_IDENTITY_LDAP_START_TLS") != "true"
            ):
                findings.append(
                    Finding(
                        "identity",
                        f"{keycloak.key} -> {url}",
                        "the directory is read over plain LDAP (no ldaps://, no StartTLS): "
                        "bind password and people's data in clear",
                    )
                )
            bind = realm.get("FOLIO_IDENTITY_LDAP_BIND_DN", "")
            if bind.startswith("cn=admin,"):
                findings.append(
                    Finding(
                        "identity",
                        f"{keycloak.key} -> {url}",
                        f"Keycloak binds as the directory's admin ({bind}) for a read-only federation",
                    )
                )
        release = self.model.releases.get("keycloak")
        for public in self.model.of_kind("Ingress"):
            if release is None or public["metadata"]["namespace"] != release.namespace:
                continue
            for rule in public["spec"].get("rules", []):
                for path in (rule.get("http") or {}).get("paths", []):
                    if path.get("path", "/") in ("/", "/admin", "/admin/"):
                        findings.append(
                            Finding(
                                "identity",
                                f"Ingress {rule['host']}{path.get('path')}",
                                "Keycloak's admin console is reachable on the public host",
                            )
                        )
        return findings

    def check_fences(self) -> list[Finding]:
        """Stores are fenced by ingress policies; egress to the internet only for pods with an edge that needs it."""
        findings = []
        for pod in self.pods:
            release = self.model.get(pod.kind, pod.namespace, pod.name)
            name = ((release or {}).get("metadata", {}).get("annotations") or {}).get("folio.graph/release")
            if name in DATA_STORES and not self._policies(pod, "Ingress"):
                findings.append(
                    Finding(
                        "policy",
                        pod.key,
                        f"nothing limits who reaches {name}: no ingress NetworkPolicy selects its pods",
                    )
                )
        external = {e.source.key for e in self.edges() if self.service(e.host, e.source.namespace)[0] is None}
        for pod, _ in self.app_pods():
            opens = any(
                "ipBlock" in peer
                for policy in self._policies(pod, "Egress")
                for rule in policy["spec"].get("egress") or []
                for peer in rule.get("to") or []
            )
            if opens and pod.key not in external:
                findings.append(
                    Finding(
                        "policy",
                        pod.key,
                        "egress to the internet is open but no edge of this pod leaves the cluster",
                    )
                )
        return findings

    def check_registry(self) -> list[Finding]:
        """An installed Nacos is used by every service, with credentials when it enforces auth."""
        release = self.model.releases.get("nacos")
        if release is None:
            return []
        findings = []
        auth = bool((release.values.get("nacos") or {}).get("authToken"))
        for pod, _ in self.app_pods():
            env = pod.env()
            if "FOLIO_NACOS_SERVER_ADDRESSES" not in env:
                findings.append(
                    Finding(
                        "env",
                        pod.key,
                        "Nacos is installed but FOLIO_NACOS_SERVER_ADDRESSES does not point the service at it",
                    )
                )
            elif auth and not {"FOLIO_NACOS_USERNAME", "FOLIO_NACOS_PASSWORD"} <= env.keys():
                findings.append(
                    Finding(
                        "env",
                        pod.key,
                        "Nacos enforces auth but the service joins it without FOLIO_NACOS_USERNAME / FOLIO_NACOS_PASSWORD",
                    )
                )
        return findings

    def check_gateway(self) -> list[Finding]:
        """Rate limits key on the shopper's address: behind the Ingress, remote_addr is the Ingress pod."""
        findings = []
        for route in self.model.of_kind("ApisixRoute"):
            for rule in route["spec"].get("http", []):
                plugins = {p["name"]: p.get("config") or {} for p in rule.get("plugins", [])}
                for name in ("limit-req", "limit-count"):
                    if (
                        name in plugins
                        and plugins[name].get("key") == "remote_addr"
                        and "real-ip" not in plugins
                    ):
                        findings.append(
                            Finding(
                                "policy",
                                f"ApisixRoute {rule['name']}",
                                f"{name} keys on remote_addr without the real-ip plugin: one bucket for every shopper behind the Ingress",
                            )
                        )
        return findings

    def check_qdrant(self) -> list[Finding]:
        """A Qdrant server answers only with its API key, and the assistant sends that same key."""
        release = self.model.releases.get("qdrant")
        server = (
            self.pod(release.namespace, release.values.get("fullnameOverride", "qdrant")) if release else None
        )
        if server is None:
            return []
        key = server.env().get("QDRANT__SERVICE__API_KEY")
        if key is None:
            return [
                Finding(
                    "secret",
                    server.key,
                    "Qdrant serves without an API key: any pod that reaches it reads and writes the vectors",
                )
            ]
        findings = []
        for pod, service in self.app_pods():
            variable = code.service_settings(service).variable("qdrant_api_key")
            url_variable = code.service_settings(service).variable("qdrant_url")
            if url_variable in pod.env() and self.value(pod, pod.env()[url_variable]):
                given = self.value(pod, pod.env()[variable]) if variable in pod.env() else None
                if given is None or given != self.value(server, key):
                    findings.append(
                        Finding("secret", pod.key, f"{variable} is not the key the Qdrant server requires")
                    )
        return findings


def check(model: Model) -> list[Finding]:
    """Every finding of a deployment's graph (empty: every edge holds)."""
    return Graph(model).check()


def render(findings: list[Finding]) -> str:
    return "\n".join(sorted(str(f) for f in findings)) or "every edge holds"
