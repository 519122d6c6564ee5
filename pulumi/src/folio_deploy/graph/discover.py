"""Every call edge of a deployment: the addresses its services are configured with, the gateway's routes,
the Ingress, and the platform's own wiring (Keycloak, the Collector, Prometheus, Grafana)."""

import json
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from folio_deploy.graph import settings as code
from folio_deploy.graph.pods import CLUSTER_DOMAIN, Edge, Pod, selects

if TYPE_CHECKING:
    from folio_deploy.graph.build import Graph

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


def edges(graph: "Graph") -> list[Edge]:
    """Every call edge of a deployment, in a fixed order: services, gateway, Ingress, platform."""
    found: list[Edge] = []
    for pod, service in graph.app_pods():
        found += _service_edges(graph, pod, service)
    found += _gateway_edges(graph) + _ingress_edges(graph) + _platform_edges(graph)
    return found


def _url_edge(pod: Pod, url: str, why: str, signal: str | None = None) -> Edge | None:
    if "://" not in url:
        url = f"tcp://{url}"
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    port = parts.port or DEFAULT_PORTS.get(parts.scheme.split("+")[0], 0)
    return Edge(pod, parts.hostname, port, why, signal=signal)


def _service_edges(graph: "Graph", pod: Pod, service: str) -> list[Edge]:
    settings = code.service_settings(service)
    env = pod.env()
    edges: list[Edge] = []
    registry = _registry_dial(pod)
    addresses_var = settings.variable("service_addresses")
    raw = graph.value(pod, env[addresses_var]) if addresses_var in env else None
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
            url = graph.value(pod, env[variable])
            if url and (edge := _url_edge(pod, url, variable)):
                edges.append(edge)
    auth = code.platform_settings()["AuthSettings"]
    for name in ("discovery_url", "issuer_url"):
        variable = auth.variable(name)
        if name in auth.fields and variable in env and (url := graph.value(pod, env[variable])):
            if edge := _url_edge(pod, url, f"{variable} (discovery, JWKS, token)"):
                edges.append(edge)
            break
    center = code.platform_settings()["CenterSettings"]
    nacos = (
        graph.value(pod, env[center.variable("nacos_server_addresses")])
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
    url = graph.value(pod, otlp) if otlp else None
    if url and (edge := _url_edge(pod, url, "OTEL_EXPORTER_OTLP_ENDPOINT", signal="traces")):
        edges.append(edge)
    return edges


def _registry_dial(pod: Pod) -> str:
    """What a client dials when Nacos discovery is on: whatever its callees advertise."""
    env = pod.env()
    if "FOLIO_NACOS_SERVER_ADDRESSES" not in env:
        return "service"
    advertise = env.get("FOLIO_ADVERTISE_HOST")
    if advertise is None or "fieldRef" in (advertise.get("valueFrom") or {}):
        return "pod"  # the pod's own address (its IP): the mesh sees an address no Service owns
    return "service"


def _gateway_pod(graph: "Graph") -> Pod | None:
    release = graph.model.releases.get("apisix")
    if release is None:
        return None
    name = release.values.get("fullnameOverride", "apisix")
    return graph.pod(release.namespace, name)


def _gateway_edges(graph: "Graph") -> list[Edge]:
    gateway = _gateway_pod(graph)
    edges = []
    for route in graph.model.of_kind("ApisixRoute"):
        namespace = route["metadata"]["namespace"]
        if gateway is None:
            continue
        for rule in route["spec"].get("http", []):
            rewrite = next((p for p in rule.get("plugins", []) if p["name"] == "proxy-rewrite"), None)
            authority = ((rewrite or {}).get("config") or {}).get("host") or (rule.get("match") or {}).get(
                "hosts", [None]
            )[0]
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


def _ingress_edges(graph: "Graph") -> list[Edge]:
    release = graph.model.releases.get("ingress-nginx")
    if release is None:
        return []
    controller = graph.pod(
        release.namespace, f"{release.values.get('fullnameOverride', 'ingress-nginx')}-controller"
    )
    edges = []
    for ingress in graph.model.of_kind("Ingress"):
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


def _platform_edges(graph: "Graph") -> list[Edge]:
    edges: list[Edge] = []
    releases = graph.model.releases
    for keycloak in graph.identity_pods():
        realm = graph.env_from(keycloak)
        if url := realm.get("FOLIO_IDENTITY_LDAP_URL"):
            edges += [e for e in [_url_edge(keycloak, url, "realm LDAP federation")] if e]
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
        collector = graph.pod(
            release.namespace, release.values.get("fullnameOverride", "opentelemetry-collector")
        )
        exporters = (release.values.get("config") or {}).get("exporters") or {}
        for signal, pipeline in graph.collector_pipelines().items():
            for name in pipeline.get("exporters", []):
                exporter = exporters.get(name) or {}
                url = exporter.get("endpoint") or exporter.get("traces_endpoint")
                if (
                    collector
                    and url
                    and (edge := _url_edge(collector, str(url), f"collector {signal} -> {name}", signal))
                ):
                    edges.append(edge)
    if "kube-prometheus-stack" in releases:
        release = releases["kube-prometheus-stack"]
        name = release.values.get("fullnameOverride", "kube-prometheus-stack")
        prometheus = graph.pod(release.namespace, f"prometheus-{name}-prometheus")
        for monitor in graph.model.of_kind("ServiceMonitor"):
            namespace = monitor["metadata"]["namespace"]
            for service in graph.model.of_kind("Service"):
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
        grafana = graph.pod(release.namespace, "kube-prometheus-stack-grafana")
        for source in (release.values.get("grafana") or {}).get("additionalDataSources") or []:
            if grafana and (
                edge := _url_edge(grafana, source["url"], f"Grafana data source {source['name']}")
            ):
                edges.append(edge)
    return edges
