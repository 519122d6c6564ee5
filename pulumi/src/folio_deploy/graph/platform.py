"""The platform charts the graph cannot render offline, described from the values the program sets.

This is the one place that says what each upstream chart puts into the cluster as far as the call graph
is concerned: its workloads (namespace, pod labels, service account, container ports, the env and
Secrets they read) and its Services (name, ports, target ports). Each entry follows the chart at the
version pinned in folio_deploy.charts and reads the release's values, so a value the program changes
(fullnameOverride, a port, a service account) changes the description too. The objects are shaped like
the Kubernetes objects the chart renders (annotated `folio.graph/described`), so the checker treats them
like the app chart's rendered objects. A CI runner with the helm binary renders the real charts with
the same values (`python -m folio_deploy.render`); where a description and a chart disagree, the chart wins
and this file is corrected.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

DESCRIBED = "folio.graph/described"
# Releases whose pods hold data: their namespace must fence them with ingress NetworkPolicies.
DATA_STORES = ("postgresql", "redis", "neo4j", "qdrant", "nacos")
Values = dict[str, Any]
Objects = list[dict[str, Any]]


def workload(
    name: str,
    namespace: str,
    labels: dict[str, str],
    service_account: str,
    ports: dict[str, int],
    env: list[dict[str, Any]] | None = None,
    env_from: list[dict[str, Any]] | None = None,
    kind: str = "Deployment",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A pod template as a chart would render it: what policies select and what the pod reads."""
    container: dict[str, Any] = {
        "name": name,
        "ports": [{"name": port_name, "containerPort": port} for port_name, port in ports.items()],
        "env": env or [],
        "envFrom": env_from or [],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "annotations": {DESCRIBED: "true"}},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations or {}},
                "spec": {"serviceAccountName": service_account, "containers": [container]},
            },
        },
    }


def service(
    name: str, namespace: str, selector: dict[str, str], ports: list[tuple[str, int, int | str]]
) -> dict[str, Any]:
    """A ClusterIP Service: (port name, port, target port) each."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": {DESCRIBED: "true"}},
        "spec": {
            "selector": selector,
            "ports": [{"name": n, "port": p, "targetPort": t} for n, p, t in ports],
        },
    }


def ingress(
    name: str, namespace: str, rules: list[dict[str, Any]], service_name: str, port: int
) -> dict[str, Any]:
    """An Ingress as a chart renders it from `hosts` / `rules` values: host and paths to one Service."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "annotations": {DESCRIBED: "true"}},
        "spec": {
            "rules": [
                {
                    "host": rule["host"],
                    "http": {
                        "paths": [
                            {
                                "path": path.get("path", "/"),
                                "backend": {"service": {"name": service_name, "port": {"number": port}}},
                            }
                            for path in rule.get("paths", [{"path": "/"}])
                        ]
                    },
                }
                for rule in rules
            ]
        },
    }


def _labels(name: str, instance: str, **extra: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance, **extra}


def ingress_nginx(ns: str, values: Values) -> Objects:
    # ingress-nginx 4.11: the controller Deployment and Service <fullname>-controller.
    name = values.get("fullnameOverride", "ingress-nginx")
    labels = _labels("ingress-nginx", "ingress-nginx", **{"app.kubernetes.io/component": "controller"})
    return [
        workload(f"{name}-controller", ns, labels, name, {"http": 80, "https": 443}),
        service(f"{name}-controller", ns, labels, [("http", 80, "http"), ("https", 443, "https")]),
    ]


def istiod(ns: str, values: Values) -> Objects:
    labels = {"app": "istiod", "istio": "pilot"}
    ports = {"grpc-xds": 15010, "https-dns": 15012, "https-webhook": 15017, "http-monitoring": 15014}
    return [
        workload("istiod", ns, labels, "istiod", ports),
        service("istiod", ns, labels, [(n, p if n != "https-webhook" else 443, p) for n, p in ports.items()]),
    ]


def apisix(ns: str, values: Values) -> Objects:
    # apisix 2.10: the gateway Deployment <fullname>; Services <fullname>-gateway (80 -> 9080) and
    # <fullname>-admin (9180); the pods run as serviceAccount.name when serviceAccount.create, else default.
    name = values.get("fullnameOverride", "apisix")
    account = values.get("serviceAccount") or {}
    labels = _labels("apisix", "apisix")
    objects = [
        workload(
            name,
            ns,
            labels,
            str(account.get("name", name)) if account.get("create") else "default",
            {"http": 9080, "admin": 9180, "prometheus": 9091},
            annotations=(values.get("apisix") or {}).get("podAnnotations") or values.get("podAnnotations"),
        ),
        service(f"{name}-gateway", ns, labels, [("apisix-gateway", 80, 9080)]),
        service(f"{name}-admin", ns, labels, [("apisix-admin", 9180, 9180)]),
    ]
    if (values.get("ingress-controller") or {}).get("enabled"):
        controller = _labels("ingress-controller", "apisix")
        objects.append(
            workload(f"{name}-ingress-controller", ns, controller, f"{name}-ingress-controller", {})
        )
    return objects


def keycloak(ns: str, values: Values) -> Objects:
    # keycloakx 7.0: StatefulSet <fullname>, Service <fullname>-http (80 -> http 8080), service account
    # <fullname>; extraEnv / extraEnvFrom are YAML strings the chart templates into the container.
    name = values.get("fullnameOverride", "keycloak")
    labels = _labels("keycloakx", "keycloak")
    env = yaml.safe_load(values.get("extraEnv") or "[]") or []
    database = values.get("database") or {}
    if database.get("existingSecret"):
        env.append(
            {
                "name": "KC_DB_PASSWORD",
                "valueFrom": {
                    "secretKeyRef": {"name": database["existingSecret"], "key": database["existingSecretKey"]}
                },
            }
        )
    objects = [
        workload(
            name,
            ns,
            labels,
            name,
            {"http": 8080, "http-internal": 9000},
            env=env,
            env_from=yaml.safe_load(values.get("extraEnvFrom") or "[]") or [],
            kind="StatefulSet",
        ),
        service(f"{name}-http", ns, labels, [("http", 80, "http")]),
    ]
    statefulset = objects[0]
    statefulset["spec"]["template"]["spec"]["volumes"] = (
        yaml.safe_load(values.get("extraVolumes") or "[]") or []
    )
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    container["command"] = values.get("command") or []
    container["volumeMounts"] = yaml.safe_load(values.get("extraVolumeMounts") or "[]") or []
    public = values.get("ingress") or {}
    if public.get("enabled"):
        objects.append(ingress(name, ns, public.get("rules") or [], f"{name}-http", 80))
    return objects


def openldap(ns: str, values: Values) -> Objects:
    # openldap-stack-ha 4.3 (bitnami openldap image): StatefulSet and Service <release> on 389 (-> 1389)
    # and 636 (-> 1636); the admin passwords come from global.existingSecret.
    labels = _labels("openldap-stack-ha", "openldap")
    secret = (values.get("global") or {}).get("existingSecret")
    env = [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        for key in ("LDAP_ADMIN_PASSWORD", "LDAP_CONFIG_ADMIN_PASSWORD")
        if secret
    ]
    tls = values.get("customTLS") or {}
    volumes_secret = [tls["secret"]] if tls.get("enabled") and tls.get("secret") else []
    obj = workload(
        "openldap", ns, labels, "default", {"ldap": 1389, "ldaps": 1636}, env=env, kind="StatefulSet"
    )
    obj["spec"]["template"]["spec"]["volumes"] = [
        {"name": "tls", "secret": {"secretName": s}} for s in volumes_secret
    ]
    return [obj, service("openldap", ns, labels, [("ldap-port", 389, 1389), ("ssl-ldap-port", 636, 1636)])]


def nacos(ns: str, values: Values) -> Objects:
    # nacos-k8s helm/ at the pinned commit: StatefulSet nacos, Service nacos-cs (8848 http, 9848 gRPC);
    # nacos-hs only in cluster mode.
    labels = _labels("nacos", "nacos")
    port = int((values.get("service") or {}).get("port", 8848))
    return [
        workload("nacos", ns, labels, "default", {"http": 8848, "client-rpc": 9848}, kind="StatefulSet"),
        service("nacos-cs", ns, labels, [("http", port, 8848), ("client-rpc", port + 1000, 9848)]),
    ]


def postgresql(ns: str, values: Values) -> Objects:
    name = values.get("fullnameOverride", "postgresql")
    labels = _labels("postgresql", "postgresql", **{"app.kubernetes.io/component": "primary"})
    secret = (values.get("auth") or {}).get("existingSecret")
    keys = (values.get("auth") or {}).get("secretKeys") or {}
    env = [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": keys[key]}}}
        for var, key in (
            ("POSTGRES_PASSWORD", "userPasswordKey"),
            ("POSTGRES_POSTGRES_PASSWORD", "adminPasswordKey"),
        )
        if secret and key in keys
    ]
    return [
        workload(name, ns, labels, name, {"tcp-postgresql": 5432}, env=env, kind="StatefulSet"),
        service(name, ns, labels, [("tcp-postgresql", 5432, "tcp-postgresql")]),
    ]


def redis(ns: str, values: Values) -> Objects:
    name = values.get("fullnameOverride", "redis")
    labels = _labels("redis", "redis", **{"app.kubernetes.io/component": "master"})
    auth = values.get("auth") or {}
    env = (
        [
            {
                "name": "REDIS_PASSWORD",
                "valueFrom": {
                    "secretKeyRef": {"name": auth["existingSecret"], "key": auth["existingSecretPasswordKey"]}
                },
            }
        ]
        if auth.get("existingSecret")
        else []
    )
    return [
        workload(f"{name}-master", ns, labels, name, {"redis": 6379}, env=env, kind="StatefulSet"),
        service(f"{name}-master", ns, labels, [("tcp-redis", 6379, "redis")]),
    ]


def neo4j(ns: str, values: Values) -> Objects:
    # neo4j 5.26: StatefulSet <neo4j.name>; the ClusterIP Service <name> (bolt 7687, http 7474) is always
    # rendered (services.neo4j is the extra LoadBalancer one).
    name = (values.get("neo4j") or {}).get("name", "neo4j")
    labels = {"app": name, "helm.neo4j.com/instance": "neo4j"}
    secret = (values.get("neo4j") or {}).get("passwordFromSecret")
    env = (
        [{"name": "NEO4J_AUTH", "valueFrom": {"secretKeyRef": {"name": secret, "key": "NEO4J_AUTH"}}}]
        if secret
        else []
    )
    return [
        workload(name, ns, labels, name, {"bolt": 7687, "http": 7474}, env=env, kind="StatefulSet"),
        service(name, ns, labels, [("tcp-bolt", 7687, 7687), ("tcp-http", 7474, 7474)]),
    ]


def qdrant(ns: str, values: Values) -> Objects:
    name = values.get("fullnameOverride", "qdrant")
    labels = _labels("qdrant", "qdrant")
    api_key = values.get("apiKey")
    env = []
    if isinstance(api_key, dict) and api_key.get("valueFrom"):
        env.append({"name": "QDRANT__SERVICE__API_KEY", "valueFrom": api_key["valueFrom"]})
    return [
        workload(name, ns, labels, name, {"http": 6333, "grpc": 6334}, env=env, kind="StatefulSet"),
        service(name, ns, labels, [("http", 6333, 6333), ("grpc", 6334, 6334)]),
    ]


def ollama(ns: str, values: Values) -> Objects:
    name = values.get("fullnameOverride", "ollama")
    labels = _labels("ollama", "ollama")
    return [
        workload(name, ns, labels, name, {"http": 11434}),
        service(name, ns, labels, [("http", 11434, "http")]),
    ]


def kube_prometheus_stack(ns: str, values: Values) -> Objects:
    # kube-prometheus-stack 67.9: Prometheus and Alertmanager (made by the operator) behind
    # <fullname>-prometheus:9090 and <fullname>-alertmanager:9093; Grafana (subchart) <release>-grafana.
    name = values.get("fullnameOverride", "kube-prometheus-stack")
    prometheus = {"app.kubernetes.io/name": "prometheus", "prometheus": f"{name}-prometheus"}
    alertmanager = {"app.kubernetes.io/name": "alertmanager", "alertmanager": f"{name}-alertmanager"}
    grafana = _labels("grafana", "kube-prometheus-stack")
    grafana_admin = ((values.get("grafana") or {}).get("admin") or {}).get("existingSecret")
    grafana_ingress = (values.get("grafana") or {}).get("ingress") or {}
    grafana_env = [
        {
            "name": var,
            "valueFrom": {"secretKeyRef": {"name": grafana_admin, "key": values["grafana"]["admin"][key]}},
        }
        for var, key in (("GF_SECURITY_ADMIN_USER", "userKey"), ("GF_SECURITY_ADMIN_PASSWORD", "passwordKey"))
        if grafana_admin
    ]
    return [
        workload(
            f"prometheus-{name}-prometheus",
            ns,
            prometheus,
            f"{name}-prometheus",
            {"http-web": 9090},
            kind="StatefulSet",
        ),
        service(f"{name}-prometheus", ns, prometheus, [("http-web", 9090, 9090)]),
        workload(
            f"alertmanager-{name}-alertmanager",
            ns,
            alertmanager,
            f"{name}-alertmanager",
            {"http-web": 9093},
            kind="StatefulSet",
        ),
        service(f"{name}-alertmanager", ns, alertmanager, [("http-web", 9093, 9093)]),
        workload(
            "kube-prometheus-stack-grafana",
            ns,
            grafana,
            "kube-prometheus-stack-grafana",
            {"grafana": 3000},
            env=grafana_env,
        ),
        service("kube-prometheus-stack-grafana", ns, grafana, [("http-web", 80, 3000)]),
        *(
            [
                ingress(
                    "kube-prometheus-stack-grafana",
                    ns,
                    [{"host": host} for host in grafana_ingress.get("hosts") or []],
                    "kube-prometheus-stack-grafana",
                    80,
                )
            ]
            if grafana_ingress.get("enabled")
            else []
        ),
    ]


def loki(ns: str, values: Values) -> Objects:
    # loki 6.24 in SingleBinary mode: StatefulSet and Service "loki" (http 3100); no gateway when disabled.
    labels = _labels("loki", "loki", **{"app.kubernetes.io/component": "single-binary"})
    objects = [
        workload("loki", ns, labels, "loki", {"http-metrics": 3100, "grpc": 9095}, kind="StatefulSet"),
        service("loki", ns, labels, [("http-metrics", 3100, "http-metrics"), ("grpc", 9095, "grpc")]),
    ]
    if (values.get("gateway") or {}).get("enabled", True):
        gateway = _labels("loki", "loki", **{"app.kubernetes.io/component": "gateway"})
        objects += [
            workload("loki-gateway", ns, gateway, "loki", {"http-metrics": 8080}),
            service("loki-gateway", ns, gateway, [("http-metrics", 80, "http-metrics")]),
        ]
    return objects


def tempo(ns: str, values: Values) -> Objects:
    # tempo 1.10 (single binary): StatefulSet and Service <fullname> with its HTTP API (3100) and the
    # OTLP receivers the values enable (4317 gRPC, 4318 HTTP).
    name = values.get("fullnameOverride", "tempo")
    labels = _labels("tempo", "tempo")
    ports = {"tempo-prom-metrics": 3100, "grpc-otlp": 4317, "http-otlp": 4318}
    return [
        workload(name, ns, labels, name, ports, kind="StatefulSet"),
        service(name, ns, labels, [(n, p, p) for n, p in ports.items()]),
    ]


def opentelemetry_collector(ns: str, values: Values) -> Objects:
    # opentelemetry-collector 0.113: a DaemonSet or Deployment <fullname> and a Service <fullname> with
    # the OTLP ports; the logsCollection preset mounts the node's /var/log/pods (the filelog receiver).
    name = values.get("fullnameOverride", "opentelemetry-collector")
    labels = _labels("opentelemetry-collector", "opentelemetry-collector")
    mode = values.get("mode", "deployment")
    obj = workload(
        name,
        ns,
        labels,
        name,
        {"otlp": 4317, "otlp-http": 4318},
        env=list(values.get("extraEnvs") or []),
        kind="DaemonSet" if mode == "daemonset" else "Deployment",
    )
    return [obj, service(name, ns, labels, [("otlp", 4317, 4317), ("otlp-http", 4318, 4318)])]


def deepflow(ns: str, values: Values) -> Objects:
    # deepflow 6.6: deepflow-server (ingester), its ClickHouse and MySQL, and the deepflow-agent DaemonSet
    # whose Service takes OTLP traces over HTTP on port 80 (-> 38086, /api/v1/otel/trace) and hands them
    # to the server, which stores them in ClickHouse beside its eBPF network spans.
    server = _labels("deepflow", "deepflow", component="deepflow-server")
    clickhouse = _labels("deepflow", "deepflow", component="clickhouse")
    agent = _labels("deepflow-agent", "deepflow", component="deepflow-agent")
    return [
        workload("deepflow-server", ns, server, "deepflow-server", {"receive": 30033, "querier": 20416}),
        service("deepflow-server", ns, server, [("receive", 30033, 30033), ("querier", 20416, 20416)]),
        workload("deepflow-clickhouse", ns, clickhouse, "default", {"tcp-port": 9000}, kind="StatefulSet"),
        service("deepflow-clickhouse", ns, clickhouse, [("tcp-port", 9000, 9000)]),
        workload("deepflow-agent", ns, agent, "deepflow-agent", {"receive": 38086}, kind="DaemonSet"),
        service("deepflow-agent", ns, agent, [("receive", 80, 38086)]),
    ]


def harbor(ns: str, values: Values) -> Objects:
    labels = _labels("harbor", "harbor", component="core")
    return [
        workload("harbor-core", ns, labels, "default", {"http": 8080}),
        service("harbor-core", ns, labels, [("http", 80, 8080)]),
    ]


def cert_manager(ns: str, values: Values) -> Objects:
    labels = _labels("cert-manager", "cert-manager", **{"app.kubernetes.io/component": "controller"})
    return [workload("cert-manager", ns, labels, "cert-manager", {"http-metrics": 9402})]


def external_dns(ns: str, values: Values) -> Objects:
    labels = _labels("external-dns", "external-dns")
    return [
        workload(
            "external-dns", ns, labels, "external-dns", {"http": 7979}, env=list(values.get("env") or [])
        )
    ]


def longhorn(ns: str, values: Values) -> Objects:
    # longhorn 1.7: the manager DaemonSet (API on 9500) behind longhorn-backend, and the default
    # StorageClass "longhorn" with persistence.defaultClassReplicaCount replicas per volume.
    labels = {"app": "longhorn-manager"}
    persistence = values.get("persistence") or {}
    storage_class = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "longhorn", "annotations": {DESCRIBED: "true"}},
        "provisioner": "driver.longhorn.io",
        "reclaimPolicy": persistence.get("reclaimPolicy", "Delete"),
        "parameters": {"numberOfReplicas": str(persistence.get("defaultClassReplicaCount", 3))},
    }
    return [
        workload(
            "longhorn-manager", ns, labels, "longhorn-service-account", {"manager": 9500}, kind="DaemonSet"
        ),
        service("longhorn-backend", ns, labels, [("manager", 9500, "manager")]),
        storage_class,
    ]


def neuvector(ns: str, values: Values) -> Objects:
    # neuvector core 2.8: the controller (admission webhook 20443, CRD webhook 30443), the enforcer on
    # every node, the manager console (8443) when enabled.
    controller = {"app": "neuvector-controller-pod"}
    objects = [
        workload(
            "neuvector-controller-pod", ns, controller, "controller", {"admission": 20443, "crd": 30443}
        ),
        service("neuvector-svc-admission-webhook", ns, controller, [("admission-webhook", 443, 20443)]),
        service("neuvector-svc-crd-webhook", ns, controller, [("crd-webhook", 443, 30443)]),
        workload(
            "neuvector-enforcer-pod", ns, {"app": "neuvector-enforcer-pod"}, "enforcer", {}, kind="DaemonSet"
        ),
    ]
    if (values.get("manager") or {}).get("enabled", True):
        manager = {"app": "neuvector-manager-pod"}
        objects += [
            workload("neuvector-manager-pod", ns, manager, "basic", {"manager": 8443}),
            service("neuvector-service-webui", ns, manager, [("manager", 8443, 8443)]),
        ]
    return objects


def policy_controller(ns: str, values: Values) -> Objects:
    # policy-controller 0.9: the webhook Deployment and Service (443 -> 8443).
    labels = {"control-plane": "policy-controller-webhook"}
    return [
        workload("policy-controller-webhook", ns, labels, "policy-controller-webhook", {"https": 8443}),
        service("webhook", ns, labels, [("https-webhook", 443, 8443)]),
    ]


@dataclass(frozen=True)
class Volume:
    """Where a stateful release names its volumes' class, and the claim its first pod mounts."""

    class_path: str
    claim: str


# Every stateful release: the values key of its storage class and its first claim (template-pod-0).
VOLUMES = {
    "postgresql": Volume("primary.persistence.storageClass", "data-postgresql-0"),
    "redis": Volume("master.persistence.storageClass", "redis-data-redis-master-0"),
    "neo4j": Volume("volumes.data.dynamic.storageClassName", "data-neo4j-0"),
    "qdrant": Volume("persistence.storageClassName", "qdrant-storage-qdrant-0"),
    "nacos": Volume("persistence.data.storageClassName", "data-storage-nacos-0"),
    "openldap": Volume("persistence.storageClass", "data-openldap-0"),
    "loki": Volume("singleBinary.persistence.storageClass", "storage-loki-0"),
    "tempo": Volume("persistence.storageClassName", "storage-tempo-0"),
    "ollama": Volume("persistentVolume.storageClass", "ollama"),
    "harbor": Volume("persistence.persistentVolumeClaim.registry.storageClass", "harbor-registry"),
}


def value_at(values: Values, dotted: str) -> Any:
    """The value at a dotted path of a values tree (None when a part is missing)."""
    found: Any = values
    for part in dotted.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    return found


# Release key (as in folio_deploy.platform.NAMESPACES) -> its description.
CHARTS: dict[str, Callable[[str, Values], Objects]] = {
    "ingress-nginx": ingress_nginx,
    "cert-manager": cert_manager,
    "external-dns": external_dns,
    "istio-base": lambda ns, values: [],
    "istiod": istiod,
    "apisix": apisix,
    "keycloak": keycloak,
    "openldap": openldap,
    "nacos": nacos,
    "postgresql": postgresql,
    "redis": redis,
    "neo4j": neo4j,
    "qdrant": qdrant,
    "ollama": ollama,
    "harbor": harbor,
    "kube-prometheus-stack": kube_prometheus_stack,
    "loki": loki,
    "tempo": tempo,
    "opentelemetry-collector": opentelemetry_collector,
    "deepflow": deepflow,
    "longhorn": longhorn,
    "neuvector": neuvector,
    "policy-controller": policy_controller,
}


def describe(release: str, namespace: str, values: Values) -> Objects:
    """The objects a platform release puts into the cluster, as far as the graph needs them."""
    if release not in CHARTS:
        raise KeyError(f"no description of the {release} chart: add it to folio_deploy.graph.platform.CHARTS")
    objects = CHARTS[release](namespace, values)
    for obj in objects:
        obj["metadata"]["annotations"]["folio.graph/release"] = release
    return objects
