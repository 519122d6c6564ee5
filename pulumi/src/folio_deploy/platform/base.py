"""What every platform component shares: where each release goes, how big it is, and the plumbing that
creates namespaces, Secrets and releases once for the whole platform (a `Context`)."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from folio_deploy.config import StackConfig
from folio_deploy.resources import helm_release, kube_secret, namespace, requests

# Which namespace each release goes to.
NAMESPACES = {
    "ingress-nginx": "ingress-nginx",
    "cert-manager": "cert-manager",
    "external-dns": "external-dns",
    "istio-base": "istio-system",
    "istiod": "istio-system",
    "apisix": "apisix",
    "keycloak": "keycloak",
    "openldap": "keycloak",
    "nacos": "nacos",
    "postgresql": "folio-data",
    "redis": "folio-data",
    "neo4j": "folio-data",
    "qdrant": "folio-data",
    "ollama": "ai",
    "harbor": "harbor",
    "kube-prometheus-stack": "observability",
    "loki": "observability",
    "opentelemetry-collector": "observability",
    "tempo": "observability",
    "deepflow": "deepflow",
    "longhorn": "longhorn-system",
    "neuvector": "neuvector",
    "policy-controller": "cosign-system",
}
# Namespaces whose every pod gets an Istio sidecar: the gateway calls the shop, whose workloads accept
# only mTLS from named service accounts.
MESHED_NAMESPACES = {"apisix"}
REPO = Path(__file__).resolve().parents[4]
# The Collector's pipelines (receivers, processors, log parsing), shared with plain-Helm installs; the
# program adds the exporters of the backends this stack installs.
COLLECTOR_VALUES = REPO / "helm" / "observability" / "otel-collector-values.yaml"
# Alertmanager's routing: the same file `folio up --observe` and the tests use.
ALERTMANAGER_CONFIG = REPO / "helm" / "folio" / "files" / "alertmanager" / "alertmanager.yml"
REALM_FILE = REPO / "identity" / "keycloak" / "folio-realm.json"
DIRECTORY_LDIF = REPO / "identity" / "openldap" / "bootstrap.ldif"

# Requests per workload (cpu, memory): "small" fits one 4-CPU / 8 GiB k3s node, "standard" a real cluster.
SIZES: dict[str, dict[str, tuple[str, str]]] = {
    "small": {
        "ingress-nginx": ("50m", "96Mi"),
        "cert-manager": ("10m", "32Mi"),
        "istiod": ("100m", "192Mi"),
        "istio-proxy": ("10m", "40Mi"),
        "apisix": ("100m", "128Mi"),
        "apisix-etcd": ("25m", "64Mi"),
        "apisix-ingress-controller": ("25m", "64Mi"),
        "keycloak": ("250m", "512Mi"),
        "openldap": ("25m", "64Mi"),
        "nacos": ("100m", "512Mi"),
        "postgresql": ("100m", "256Mi"),
        "redis": ("25m", "64Mi"),
        "neo4j": ("500m", "2Gi"),  # the neo4j chart refuses less than 500m / 2Gi
        "qdrant": ("50m", "192Mi"),
        "ollama": ("500m", "1Gi"),
        "prometheus": ("150m", "384Mi"),
        "alertmanager": ("10m", "32Mi"),
        "grafana": ("50m", "128Mi"),
        "prometheus-operator": ("25m", "64Mi"),
        "kube-state-metrics": ("10m", "48Mi"),
        "node-exporter": ("10m", "24Mi"),
        "loki": ("100m", "256Mi"),
        "otel-collector": ("50m", "96Mi"),
        "external-dns": ("10m", "32Mi"),
        "harbor": ("100m", "256Mi"),
        "deepflow": ("200m", "512Mi"),
        "tempo": ("50m", "128Mi"),
        "neuvector-controller": ("100m", "512Mi"),
        "neuvector-enforcer": ("100m", "384Mi"),
        "neuvector-manager": ("25m", "256Mi"),
        "neuvector-scanner": ("100m", "1Gi"),
        "policy-controller": ("25m", "64Mi"),
    },
    "standard": {
        "ingress-nginx": ("200m", "256Mi"),
        "cert-manager": ("50m", "64Mi"),
        "istiod": ("500m", "1Gi"),
        "istio-proxy": ("100m", "128Mi"),
        "apisix": ("500m", "512Mi"),
        "apisix-etcd": ("100m", "256Mi"),
        "apisix-ingress-controller": ("100m", "128Mi"),
        "keycloak": ("500m", "1Gi"),
        "openldap": ("100m", "128Mi"),
        "nacos": ("500m", "1Gi"),
        "postgresql": ("500m", "1Gi"),
        "redis": ("100m", "256Mi"),
        "neo4j": ("1", "4Gi"),
        "qdrant": ("500m", "1Gi"),
        "ollama": ("2", "4Gi"),
        "prometheus": ("500m", "2Gi"),
        "alertmanager": ("50m", "64Mi"),
        "grafana": ("100m", "256Mi"),
        "prometheus-operator": ("100m", "128Mi"),
        "kube-state-metrics": ("50m", "128Mi"),
        "node-exporter": ("50m", "64Mi"),
        "loki": ("500m", "1Gi"),
        "otel-collector": ("200m", "256Mi"),
        "external-dns": ("50m", "64Mi"),
        "harbor": ("200m", "512Mi"),
        "deepflow": ("1", "2Gi"),
        "tempo": ("200m", "512Mi"),
        "neuvector-controller": ("200m", "1Gi"),
        "neuvector-enforcer": ("500m", "1Gi"),  # inline in Protect mode: it filters every connection
        "neuvector-manager": ("50m", "512Mi"),
        "neuvector-scanner": ("200m", "1536Mi"),
        "policy-controller": ("100m", "128Mi"),
    },
}

KEYCLOAK_REALM = "folio"
# Private ranges that hold every usual pod network (k3s: 10.42.0.0/16; most CNIs: 10.x or 172.16/12).
POD_NETWORKS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
# The directory's base (identity/openldap/bootstrap.ldif) and the read-only account Keycloak binds as.
LDAP_DOMAIN = "folio.example"
LDAP_BIND_DN = "cn=keycloak-reader,ou=services,dc=folio,dc=example"
# The in-cluster CA that signs the certificates of internal TLS endpoints (the directory's LDAPS).
INTERNAL_ISSUER = "folio-internal"
# Confidential OIDC clients whose secrets Keycloak and the app must share (client -> Keycloak client id).
OIDC_CLIENTS = {
    "storefront": "folio-storefront",
    "orders": "folio-orders",
    "assistant": "folio-assistant",
    "gateway": "folio-gateway",
}


@dataclass
class Context:
    """The namespaces, releases and Secrets of the whole platform, shared by its components."""

    config: StackConfig
    provider: k8s.Provider
    namespaces: dict[str, k8s.core.v1.Namespace] = field(default_factory=dict)
    releases: dict[str, k8s.helm.v3.Release] = field(default_factory=dict)
    # Secrets created so far per namespace: a release there waits for them (charts read them at start).
    secrets: dict[str, list[k8s.core.v1.Secret]] = field(default_factory=dict)
    # The ClusterIssuer of the cluster's own CA, once the edge has made it.
    internal_issuer: pulumi.Resource | None = None
    # The release that makes the StorageClass every stateful release uses (Longhorn), once made.
    storage: pulumi.Resource | None = None


class Part(pulumi.ComponentResource):
    """A platform component: its releases, Secrets and namespaces go through the shared Context."""

    def __init__(self, kind: str, name: str, context: Context, opts: pulumi.ResourceOptions | None) -> None:
        super().__init__(f"folio:platform:{kind}", name, None, opts)
        self._context = context
        self._config = context.config
        self._k8s = context.provider
        self._size = SIZES[context.config.profile]

    @property
    def releases(self) -> dict[str, k8s.helm.v3.Release]:
        return self._context.releases

    def _namespace(self, name: str) -> k8s.core.v1.Namespace:
        if name not in self._context.namespaces:
            meshed = name in MESHED_NAMESPACES and self._config.platform.istio.enabled
            labels = {"istio-injection": "enabled"} if meshed else None
            self._context.namespaces[name] = namespace(name, self, self._k8s, labels)
        return self._context.namespaces[name]

    def _release(
        self, key: str, values: dict[str, Any], depends_on: list[pulumi.Resource] | None = None
    ) -> k8s.helm.v3.Release:
        ns = self._namespace(NAMESPACES[key])
        release = helm_release(
            key,
            NAMESPACES[key],
            values,
            parent=self,
            provider=self._k8s,
            depends_on=[
                ns,
                *self._context.secrets.get(NAMESPACES[key], []),
                *filter(None, [self._context.storage]),
                *(depends_on or []),
            ],
        )
        self._context.releases[key] = release
        return release

    def _secret(
        self, name: str, namespace_name: str, data: dict[str, pulumi.Input[str]]
    ) -> k8s.core.v1.Secret:
        ns = self._namespace(namespace_name)
        secret = kube_secret(name, namespace_name, data, parent=self, provider=self._k8s, depends_on=[ns])
        self._context.secrets.setdefault(namespace_name, []).append(secret)
        return secret

    def _volume(self, key: str, **values: object) -> dict[str, object]:
        """A chart's persistence values with its storage-class key set to the stack's class (if any)."""
        storage_class = self._config.storage_class
        return {**values, key: storage_class} if storage_class else dict(values)

    def _res(self, workload: str, memory_limit: str | None = None) -> dict[str, dict[str, str]]:
        cpu, memory = self._size[workload]
        return requests(cpu, memory, memory_limit)

    def _tls_annotations(self) -> dict[str, Any]:
        """The TLS annotations every public host shares (cert-manager issues the certificate)."""
        return (
            {"cert-manager.io/cluster-issuer": self._issuer_name()}
            if self._config.platform.cert_manager.enabled
            else {}
        )

    def _issuer_name(self) -> str:
        return f"folio-{self._config.certificates.issuer}"

    def _certificate(
        self, name: str, namespace_name: str, dns_names: list[str]
    ) -> k8s.apiextensions.CustomResource:
        """A certificate from the internal CA in Secret `name` (tls.crt, tls.key and ca.crt)."""
        ns = self._namespace(namespace_name)
        return k8s.apiextensions.CustomResource(
            f"certificate-{namespace_name}-{name}",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace_name),
            spec={
                "secretName": name,
                "dnsNames": dns_names,
                "issuerRef": {"name": INTERNAL_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=self._k8s,
                depends_on=[ns, *filter(None, [self._context.internal_issuer])],
            ),
        )


def _dns(release: k8s.helm.v3.Release, service: str) -> pulumi.Output[str]:
    """The cluster DNS name of a release's service, taken from the release's outputs (so users wait for it)."""
    return release.namespace.apply(lambda namespace: f"{service}.{namespace or ''}.svc.cluster.local")


def _svc(release: k8s.helm.v3.Release, service: str, port: int, scheme: str = "") -> pulumi.Output[str]:
    """scheme://service.namespace.svc.cluster.local:port of a release's service."""
    return pulumi.Output.concat(scheme, _dns(release, service), f":{port}")


def _json_key(key: str) -> Callable[[str], str]:
    """Read one key of a JSON object given as secret config text."""

    def read(text: str) -> str:
        return str(json.loads(text)[key])

    return read
