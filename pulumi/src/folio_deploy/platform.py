"""The Platform component: every shared system the shop runs on, each a Helm release of its pinned chart.

Each component can be switched off in the stack config; the data stores can instead point at your own
(`mode: external`), and the assistant's graph and vectors can stay embedded in it (`mode: embedded`). What the app needs from the platform leaves this component as
`Endpoints`, so the App release is wired to the real release outputs (and waits for them).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from folio_deploy.config import StackConfig, require_secret_config, secret_config
from folio_deploy.resources import generated_password, helm_release, kube_secret, namespace, requests

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
}
# Namespaces whose every pod gets an Istio sidecar: the gateway calls the shop, whose workloads accept
# only mTLS from named service accounts.
MESHED_NAMESPACES = {"apisix"}
REPO = Path(__file__).resolve().parents[3]
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


@dataclass(frozen=True)
class Endpoints:
    """What the app is wired to: in-cluster addresses (or yours, when you bring a component) and secrets."""

    postgres_host: pulumi.Output[str]
    postgres_port: int
    postgres_user: str
    postgres_password: pulumi.Output[str]
    redis_url: pulumi.Output[str]  # secret: carries the password
    graph_url: pulumi.Output[str] | None  # secret: neo4j://user:password@host:port; None = embedded
    qdrant_url: pulumi.Output[str] | None  # None = embedded (Qdrant local mode in the assistant)
    llm_base_url: pulumi.Output[str]
    llm_model: str
    otel_endpoint: pulumi.Output[str] | None
    issuer_url: str | None
    gateway_address: pulumi.Output[str] | None
    # Client secrets of the confidential OIDC clients (OIDC_CLIENTS), the same values Keycloak is given.
    oidc_client_secrets: dict[str, pulumi.Output[str]]
    # NetworkPolicy egress the app needs to reach them: {namespace, ports, services} per store.
    egress: list[dict[str, object]]
    # Egress outside the cluster: {ports, services} (a store or an LLM you bring).
    external_egress: dict[str, list[Any]]
    # Where the services fetch the issuer's discovery document from (Keycloak's in-cluster Service).
    discovery_url: str | None
    nacos_addresses: str | None
    nacos_credentials: dict[str, pulumi.Output[str]] | None
    # The Qdrant server's API key (None: embedded or yours without one).
    qdrant_api_key: pulumi.Output[str] | None


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


class Platform(pulumi.ComponentResource):
    """Ingress, certificates, mesh, gateway, identity, config center, data stores, LLM, registry, telemetry."""

    endpoints: Endpoints
    releases: dict[str, k8s.helm.v3.Release]
    namespaces: dict[str, k8s.core.v1.Namespace]

    def __init__(
        self,
        name: str,
        config: StackConfig,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("folio:index:Platform", name, None, opts)
        self._config = config
        self._k8s = provider
        self._size = SIZES[config.profile]
        self.releases = {}
        self.namespaces = {}
        # Secrets created so far per namespace: a release there waits for them (charts read them at start).
        self._secrets: dict[str, list[k8s.core.v1.Secret]] = {}
        on = config.platform
        domain = config.domain

        self.keycloak_url = f"https://keycloak.{domain}" if on.keycloak.enabled else None
        self.grafana_url = f"https://grafana.{domain}" if on.observability.enabled else None
        self.harbor_url = f"https://harbor.{domain}" if on.harbor.enabled else None

        if on.ingress_nginx.enabled:
            self._release("ingress-nginx", self._ingress_nginx())
        if on.cert_manager.enabled:
            cert_manager = self._release("cert-manager", self._cert_manager())
            self._cluster_issuer(cert_manager)
            self._internal_ca(cert_manager)
        if on.external_dns.enabled:
            self._release("external-dns", self._external_dns())
        if on.istio.enabled:
            base = self._release("istio-base", {"defaultRevision": "default"})
            self._release("istiod", self._istiod(), depends_on=[base])

        postgres = self._postgresql()
        redis_url = self._redis()
        graph_url = self._neo4j()
        qdrant_url, qdrant_api_key = self._qdrant()
        llm_base_url = self._llm()

        # Generated once here, handed to Keycloak (realm env) and to the app (its Secrets) alike.
        oidc_client_secrets = {
            client: generated_password(f"{client}-oidc-secret", self) for client in OIDC_CLIENTS
        }
        ldap_reader = self._openldap() if on.openldap.enabled else None
        discovery_url = None
        if on.keycloak.enabled:
            self._keycloak(postgres, oidc_client_secrets, ldap_reader)
            discovery_url = (
                f"http://keycloak-http.{NAMESPACES['keycloak']}.svc.cluster.local/realms/{KEYCLOAK_REALM}"
            )
        nacos_addresses = None
        nacos_credentials = None
        if on.nacos.enabled:
            nacos_credentials = self._nacos()
            nacos_addresses = f"nacos-cs.{NAMESPACES['nacos']}.svc.cluster.local:8848"
        gateway = None
        if on.apisix.enabled:
            apisix = self._release("apisix", self._apisix())
            gateway = _svc(apisix, "apisix-gateway", 80, "http://")
        otel = None
        if on.observability.enabled:
            otel = self._observability()
        if on.harbor.enabled:
            self._harbor()
        if on.deepflow.enabled:
            self._deepflow()
        self._fences()

        self.endpoints = Endpoints(
            postgres_host=postgres[0],
            postgres_port=postgres[1],
            postgres_user=postgres[2],
            postgres_password=postgres[3],
            redis_url=redis_url,
            graph_url=graph_url,
            qdrant_url=qdrant_url,
            llm_base_url=llm_base_url,
            llm_model=on.llm.model,
            otel_endpoint=otel,
            issuer_url=f"{self.keycloak_url}/realms/{KEYCLOAK_REALM}" if self.keycloak_url else None,
            gateway_address=gateway,
            oidc_client_secrets=oidc_client_secrets,
            egress=self._egress(),
            external_egress=self._external_egress(),
            discovery_url=discovery_url,
            nacos_addresses=nacos_addresses,
            nacos_credentials=nacos_credentials,
            qdrant_api_key=qdrant_api_key,
        )
        self.register_outputs({"releases": sorted(self.releases)})

    # -- plumbing -----------------------------------------------------------------------------------

    def _namespace(self, name: str) -> k8s.core.v1.Namespace:
        if name not in self.namespaces:
            meshed = name in MESHED_NAMESPACES and self._config.platform.istio.enabled
            labels = {"istio-injection": "enabled"} if meshed else None
            self.namespaces[name] = namespace(name, self, self._k8s, labels)
        return self.namespaces[name]

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
            depends_on=[ns, *self._secrets.get(NAMESPACES[key], []), *(depends_on or [])],
        )
        self.releases[key] = release
        return release

    def _secret(
        self, name: str, namespace_name: str, data: dict[str, pulumi.Input[str]]
    ) -> k8s.core.v1.Secret:
        ns = self._namespace(namespace_name)
        secret = kube_secret(name, namespace_name, data, parent=self, provider=self._k8s, depends_on=[ns])
        self._secrets.setdefault(namespace_name, []).append(secret)
        return secret

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

    # -- components ---------------------------------------------------------------------------------

    def _ingress_nginx(self) -> dict[str, Any]:
        return {
            "fullnameOverride": "ingress-nginx",
            "controller": {
                "replicaCount": 1 if self._config.profile == "small" else 2,
                "resources": self._res("ingress-nginx"),
                "ingressClassResource": {"name": "nginx", "default": True},
                "metrics": {"enabled": self._config.platform.observability.enabled},
            },
        }

    def _cert_manager(self) -> dict[str, Any]:
        return {
            "crds": {"enabled": True},
            "resources": self._res("cert-manager"),
            "webhook": {"resources": self._res("cert-manager")},
            "cainjector": {"resources": self._res("cert-manager")},
        }

    def _cluster_issuer(self, cert_manager: k8s.helm.v3.Release) -> None:
        certificates = self._config.certificates
        if certificates.issuer == "letsencrypt":
            spec: dict[str, Any] = {
                "acme": {
                    "server": "https://acme-v02.api.letsencrypt.org/directory",
                    "email": certificates.acme_email,
                    "privateKeySecretRef": {"name": "folio-letsencrypt-account"},
                    "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
                }
            }
        else:
            spec = {"selfSigned": {}}
        k8s.apiextensions.CustomResource(
            "cluster-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self._issuer_name()),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[cert_manager]),
        )

    def _internal_ca(self, cert_manager: k8s.helm.v3.Release) -> None:
        """A CA of the cluster's own for internal TLS (Let's Encrypt signs no *.svc.cluster.local name):
        a self-signed root, kept in cert-manager's namespace, behind the ClusterIssuer folio-internal."""
        opts = pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[cert_manager])
        root = k8s.apiextensions.CustomResource(
            "internal-ca-root-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{INTERNAL_ISSUER}-root"),
            spec={"selfSigned": {}},
            opts=opts,
        )
        ca = k8s.apiextensions.CustomResource(
            "internal-ca",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{INTERNAL_ISSUER}-ca", namespace=NAMESPACES["cert-manager"]
            ),
            spec={
                "isCA": True,
                "commonName": "Folio internal CA",
                "secretName": f"{INTERNAL_ISSUER}-ca",
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {
                    "name": f"{INTERNAL_ISSUER}-root",
                    "kind": "ClusterIssuer",
                    "group": "cert-manager.io",
                },
            },
            opts=pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[root]),
        )
        self._internal_issuer = k8s.apiextensions.CustomResource(
            "internal-ca-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=INTERNAL_ISSUER),
            spec={"ca": {"secretName": f"{INTERNAL_ISSUER}-ca"}},
            opts=pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[ca]),
        )

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
                parent=self, provider=self._k8s, depends_on=[ns, self._internal_issuer]
            ),
        )

    def _external_dns(self) -> dict[str, Any]:
        # The DNS provider's credentials are yours (`pulumi config set --secret externalDnsCredentials
        # '{"CF_API_TOKEN": "..."}'`): the program keeps them in the Secret `external-dns-credentials`.
        settings = self._config.platform.external_dns
        if settings.credentials_env:
            given = require_secret_config(
                "externalDnsCredentials",
                "platform.externalDns.credentialsEnv names the provider's credentials",
            )
            self._secret(
                "external-dns-credentials",
                NAMESPACES["external-dns"],
                {name: given.apply(_json_key(name)) for name in settings.credentials_env},
            )
        return {
            "provider": {"name": settings.provider},
            "sources": ["ingress"],
            "policy": "upsert-only",
            "domainFilters": [self._config.domain],
            "txtOwnerId": f"folio-{pulumi.get_stack()}",
            "env": [
                {
                    "name": name,
                    "valueFrom": {"secretKeyRef": {"name": "external-dns-credentials", "key": name}},
                }
                for name in settings.credentials_env
            ],
            "resources": self._res("external-dns"),
        }

    def _istiod(self) -> dict[str, Any]:
        proxy_cpu, proxy_memory = self._size["istio-proxy"]
        return {
            "pilot": {"autoscaleEnabled": False, "replicaCount": 1, "resources": self._res("istiod")},
            "global": {"proxy": {"resources": requests(proxy_cpu, proxy_memory, "256Mi")}},
            "meshConfig": {"accessLogFile": "/dev/stdout"},
        }

    def _apisix(self) -> dict[str, Any]:
        # The app chart routes with ApisixRoute resources: APISIX with its ingress controller, which
        # writes them through the Admin API into etcd. The admin key is generated (values are secret).
        admin_key = generated_password("apisix-admin-key", self)
        return {
            "fullnameOverride": "apisix",
            # The gateway's mesh identity: the storefront admits cluster.local/ns/apisix/sa/apisix only.
            "serviceAccount": {"create": True, "name": "apisix"},
            "replicaCount": 1 if self._config.profile == "small" else 2,
            "resources": self._res("apisix"),
            "apisix": {
                # The ingress controller calls the Admin API from its own pod (the chart allows only
                # 127.0.0.1/24); ingress-nginx forwards the client's address, trusted for per-client limits.
                "admin": {"credentials": {"admin": admin_key}, "allow": {"ipList": POD_NETWORKS}},
                "trustedAddresses": POD_NETWORKS,
            },
            "service": {"type": "ClusterIP"},
            "etcd": {"enabled": True, "replicaCount": 1, "resources": self._res("apisix-etcd")},
            "ingress-controller": {
                "enabled": True,
                "resources": self._res("apisix-ingress-controller"),
                "config": {"apisix": {"serviceNamespace": NAMESPACES["apisix"], "adminKey": admin_key}},
            },
        }

    def _postgresql(self) -> tuple[pulumi.Output[str], int, str, pulumi.Output[str]]:
        settings = self._config.platform.postgresql
        if settings.mode == "external":
            external = settings.external
            assert external is not None  # the config model guarantees it
            password = require_secret_config("postgresqlPassword", "platform.postgresql is your own")
            return (
                pulumi.Output.from_input(external.host),
                external.port,
                external.username or "folio",
                password,
            )
        password = generated_password("postgresql-folio-password", self)
        admin = generated_password("postgresql-admin-password", self)
        self._secret("postgresql-auth", "folio-data", {"postgres-password": admin, "password": password})
        release = self._release(
            "postgresql",
            {
                "fullnameOverride": "postgresql",
                "auth": {
                    "username": "folio",
                    "database": "catalog",
                    "existingSecret": "postgresql-auth",
                    "secretKeys": {"adminPasswordKey": "postgres-password", "userPasswordKey": "password"},
                },
                "primary": {
                    "resources": self._res("postgresql"),
                    "persistence": {"size": "8Gi" if self._config.profile == "small" else "50Gi"},
                    # One server, one database per owner service (and Keycloak's).
                    "initdb": {
                        "scripts": {
                            "folio-databases.sql": "CREATE DATABASE payment OWNER folio;\n"
                            "CREATE DATABASE orders OWNER folio;\n"
                            "CREATE DATABASE keycloak OWNER folio;\n"
                        }
                    },
                },
            },
        )
        host = _dns(release, "postgresql")
        return host, 5432, "folio", password

    def _redis(self) -> pulumi.Output[str]:
        settings = self._config.platform.redis
        if settings.mode == "external":
            external = settings.external
            assert external is not None
            password = secret_config("redisPassword")
            auth: pulumi.Input[str] = pulumi.Output.concat(":", password, "@") if password else ""
            return pulumi.Output.secret(
                pulumi.Output.concat("redis://", auth, external.host, ":", str(external.port))
            )
        password = generated_password("redis-password", self)
        self._secret("redis-auth", "folio-data", {"redis-password": password})
        release = self._release(
            "redis",
            {
                "fullnameOverride": "redis",
                "architecture": "standalone",
                "auth": {"existingSecret": "redis-auth", "existingSecretPasswordKey": "redis-password"},
                "master": {"resources": self._res("redis"), "persistence": {"size": "1Gi"}},
            },
        )
        return pulumi.Output.secret(
            pulumi.Output.concat("redis://:", password, "@", _dns(release, "redis-master"), ":6379")
        )

    def _neo4j(self) -> pulumi.Output[str] | None:
        settings = self._config.platform.neo4j
        if settings.mode == "embedded":
            return None
        if settings.mode == "external":
            external = settings.external
            assert external is not None
            password = require_secret_config("neo4jPassword", "platform.neo4j is your own")
            user = external.username or "neo4j"
            return pulumi.Output.secret(
                pulumi.Output.concat(f"neo4j://{user}:", password, f"@{external.host}:{external.port}")
            )
        password = generated_password("neo4j-password", self)
        self._secret("neo4j-auth", "folio-data", {"NEO4J_AUTH": pulumi.Output.concat("neo4j/", password)})
        cpu, memory = self._size["neo4j"]
        release = self._release(
            "neo4j",
            {
                "neo4j": {
                    "name": "neo4j",
                    "edition": "community",
                    "passwordFromSecret": "neo4j-auth",
                    "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}},
                },
                "podSpec": {"loadbalancer": "exclude"},
                "services": {"neo4j": {"enabled": False}},
                "volumes": {
                    "data": {
                        "mode": "defaultStorageClass",
                        "defaultStorageClass": {"requests": {"storage": "4Gi"}},
                    }
                },
            },
        )
        return pulumi.Output.secret(
            pulumi.Output.concat("neo4j://neo4j:", password, "@", _dns(release, "neo4j"), ":7687")
        )

    def _qdrant(self) -> tuple[pulumi.Output[str] | None, pulumi.Output[str] | None]:
        """The Qdrant URL (None: embedded) and the API key the server requires (None: none)."""
        settings = self._config.platform.qdrant
        if settings.mode == "embedded":
            return None, None
        if settings.mode == "external":
            external = settings.external
            assert external is not None
            return pulumi.Output.from_input(f"http://{external.host}:{external.port}"), None
        api_key = generated_password("qdrant-api-key", self)
        self._secret("qdrant-auth", NAMESPACES["qdrant"], {"api-key": api_key})
        release = self._release(
            "qdrant",
            {
                "fullnameOverride": "qdrant",
                "replicaCount": 1,
                "resources": self._res("qdrant"),
                "persistence": {"size": "4Gi"},
                # Every request needs the key: reaching the pod is not enough to read the vectors.
                "apiKey": {"valueFrom": {"secretKeyRef": {"name": "qdrant-auth", "key": "api-key"}}},
            },
        )
        return _svc(release, "qdrant", 6333, "http://"), api_key

    def _egress(self) -> list[dict[str, object]]:
        """What the app's NetworkPolicies must let out: one entry per in-cluster system it calls."""
        on = self._config.platform
        egress: list[dict[str, object]] = []
        stores = (
            (on.postgresql.mode, [5432], ["catalog", "payment", "orders"]),
            (on.redis.mode, [6379], ["cart"]),
            (on.neo4j.mode, [7687], ["assistant"]),
            (on.qdrant.mode, [6333, 6334], ["assistant"]),
        )
        for mode, ports, services in stores:
            if mode == "chart":
                egress.append({"namespace": "folio-data", "ports": ports, "services": services})
        if on.keycloak.enabled:
            # Discovery, JWKS and tokens from Keycloak's in-cluster Service (its container port).
            egress.append({"namespace": NAMESPACES["keycloak"], "ports": [8080], "services": []})
        if on.nacos.enabled:
            # The SDK: HTTP on 8848, gRPC on 9848.
            egress.append({"namespace": NAMESPACES["nacos"], "ports": [8848, 9848], "services": []})
        if on.observability.enabled:
            egress.append({"namespace": "observability", "ports": [4317, 4318], "services": []})
        if on.llm.enabled:
            egress.append({"namespace": NAMESPACES["ollama"], "ports": [11434], "services": ["assistant"]})
        return egress

    def _external_egress(self) -> dict[str, list[Any]]:
        """Egress out of the cluster, only for the services that call something outside it."""
        on = self._config.platform
        ports: set[int] = set()
        services: set[str] = set()
        owners = (
            (on.postgresql, ["catalog", "payment", "orders"]),
            (on.redis, ["cart"]),
            (on.neo4j, ["assistant"]),
            (on.qdrant, ["assistant"]),
        )
        for store, users in owners:
            if store.mode == "external" and store.external:
                ports.add(store.external.port)
                services.update(users)
        if not on.llm.enabled:
            ports.add(443)  # an OpenAI-compatible endpoint you bring
            services.add("assistant")
        return {"ports": sorted(ports), "services": sorted(services)}

    def _llm(self) -> pulumi.Output[str]:
        llm = self._config.platform.llm
        if not llm.enabled:
            assert llm.external_base_url is not None
            return pulumi.Output.from_input(llm.external_base_url)
        release = self._release(
            "ollama",
            {
                "fullnameOverride": "ollama",
                # Pulled once by the pod at start into its volume (the cluster reaches the model registry).
                "ollama": {"models": {"pull": [llm.model]}},
                "resources": self._res("ollama"),
                "persistentVolume": {"enabled": True, "size": "8Gi"},
            },
        )
        return pulumi.Output.concat(_svc(release, "ollama", 11434, "http://"), "/v1")

    def _openldap(self) -> pulumi.Output[str]:
        """The directory, loaded with Folio's people and groups and a read-only account for Keycloak,
        serving LDAPS with a certificate from the internal CA. Returns the reader's password."""
        admin = generated_password("openldap-admin-password", self)
        config_admin = generated_password("openldap-config-password", self)
        reader = generated_password("openldap-reader-password", self)
        self._secret(
            "openldap-admin",
            NAMESPACES["openldap"],
            {"LDAP_ADMIN_PASSWORD": admin, "LDAP_CONFIG_ADMIN_PASSWORD": config_admin},
        )
        tls = self._config.platform.cert_manager.enabled
        if tls:
            self._certificate(
                "openldap-tls",
                NAMESPACES["openldap"],
                [
                    "openldap",
                    f"openldap.{NAMESPACES['openldap']}.svc",
                    f"openldap.{NAMESPACES['openldap']}.svc.cluster.local",
                ],
            )
        base = ",".join(f"dc={part}" for part in LDAP_DOMAIN.split("."))
        # Loaded once into an empty directory; the reader may read (the image's default ACL lets any bound
        # account read, and none but the admin write).
        services_ldif = pulumi.Output.concat(
            f"dn: ou=services,{base}\nobjectClass: organizationalUnit\nou: services\n\n",
            f"dn: {LDAP_BIND_DN}\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\n",
            "cn: keycloak-reader\nuserPassword: ",
            reader,
            "\n",
        )
        self._release(
            "openldap",
            {
                "global": {"ldapDomain": LDAP_DOMAIN, "existingSecret": "openldap-admin"},
                "replicaCount": 1,
                "replication": {"enabled": False},
                "ltb-passwd": {"enabled": False},
                "phpldapadmin": {"enabled": False},
                "resources": self._res("openldap"),
                "persistence": {"enabled": True, "size": "1Gi"},
                "customLdifFiles": {
                    "00-folio.ldif": DIRECTORY_LDIF.read_text(),
                    "10-services.ldif": services_ldif,
                },
                "customTLS": {"enabled": tls, "secret": "openldap-tls" if tls else ""},
            },
        )
        return reader

    def _keycloak(
        self,
        postgres: tuple[pulumi.Output[str], int, str, pulumi.Output[str]],
        client_secrets: dict[str, pulumi.Output[str]],
        ldap_reader: pulumi.Output[str] | None,
    ) -> None:
        host, port, user, db_password = postgres
        ns = NAMESPACES["keycloak"]
        admin = generated_password("keycloak-admin-password", self)
        self._secret("keycloak-admin", ns, {"username": "admin", "password": admin})
        self._secret("keycloak-db", ns, {"password": db_password})
        public_host = f"keycloak.{self._config.domain}"
        # The realm file's placeholders (identity/keycloak/folio-realm.json): `kc.sh --import-realm` and
        # `folio identity apply` both read them from Keycloak's environment.
        realm_env: dict[str, pulumi.Input[str]] = {
            "FOLIO_IDENTITY_SHOP_URL": f"https://shop.{self._config.domain}",
            "FOLIO_IDENTITY_STOREFRONT_CLIENT_SECRET": client_secrets["storefront"],
            "FOLIO_IDENTITY_ORDERS_CLIENT_SECRET": client_secrets["orders"],
            "FOLIO_IDENTITY_ASSISTANT_CLIENT_SECRET": client_secrets["assistant"],
            "FOLIO_IDENTITY_GATEWAY_CLIENT_SECRET": client_secrets["gateway"],
        }
        tls = self._config.platform.cert_manager.enabled
        if ldap_reader is not None:
            scheme, ldap_port = ("ldaps", 636) if tls else ("ldap", 389)
            realm_env |= {
                "FOLIO_IDENTITY_LDAP_URL": f"{scheme}://openldap.{NAMESPACES['openldap']}.svc.cluster.local:{ldap_port}",
                "FOLIO_IDENTITY_LDAP_BIND_DN": LDAP_BIND_DN,
                "FOLIO_IDENTITY_LDAP_BIND_CREDENTIAL": ldap_reader,
            }
        self._secret("keycloak-realm-env", ns, realm_env)
        # The realm, imported on the first start (`--import-realm` skips a realm that exists).
        realm = k8s.core.v1.ConfigMap(
            "keycloak-realm",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="keycloak-realm", namespace=ns),
            data={"folio-realm.json": REALM_FILE.read_text()},
            opts=pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[self._namespace(ns)]),
        )
        volumes = "- name: realm\n  configMap: {name: keycloak-realm}\n"
        mounts = "- name: realm\n  mountPath: /opt/keycloak/data/import\n  readOnly: true\n"
        trust = ""
        if tls and ldap_reader is not None:
            # The directory's certificate is signed by the internal CA: Keycloak trusts that CA.
            volumes += "- name: ldap-ca\n  secret: {secretName: openldap-tls, items: [{key: ca.crt, path: folio-internal-ca.crt}]}\n"
            mounts += "- name: ldap-ca\n  mountPath: /opt/keycloak/conf/truststores\n  readOnly: true\n"
            trust = (
                "- name: KC_TRUSTSTORE_PATHS\n  value: /opt/keycloak/conf/truststores/folio-internal-ca.crt\n"
            )
        self._release(
            "keycloak",
            {
                "fullnameOverride": "keycloak",
                "replicas": 1,
                "command": [
                    "/opt/keycloak/bin/kc.sh",
                    "start",
                    "--http-enabled=true",
                    "--hostname-strict=false",
                    "--import-realm",
                ],
                "proxy": {"enabled": True, "mode": "xforwarded"},
                "http": {"relativePath": "/"},
                "resources": self._res("keycloak", "1Gi"),
                "database": {
                    "vendor": "postgres",
                    "hostname": host,
                    "port": port,
                    "database": "keycloak",
                    "username": user,
                    "existingSecret": "keycloak-db",
                    "existingSecretKey": "password",
                },
                "extraEnv": (
                    "- name: KC_BOOTSTRAP_ADMIN_USERNAME\n"
                    "  valueFrom: {secretKeyRef: {name: keycloak-admin, key: username}}\n"
                    "- name: KC_BOOTSTRAP_ADMIN_PASSWORD\n"
                    "  valueFrom: {secretKeyRef: {name: keycloak-admin, key: password}}\n"
                    f"- name: KC_HOSTNAME\n  value: https://{public_host}\n"
                    # Tokens name the public issuer; the token and key endpoints answer with the address
                    # they were asked on, so services inside the cluster never leave it.
                    "- name: KC_HOSTNAME_BACKCHANNEL_DYNAMIC\n  value: 'true'\n" + trust
                ),
                "extraEnvFrom": "- secretRef: {name: keycloak-realm-env}\n",
                "extraVolumes": volumes,
                "extraVolumeMounts": mounts,
                "ingress": {
                    "enabled": True,
                    "ingressClassName": "nginx",
                    "annotations": self._tls_annotations(),
                    # Sign-in and the realm's public documents only: the admin console is reached with
                    # `kubectl port-forward -n keycloak svc/keycloak-http 8080:80`, never from the internet.
                    "rules": [
                        {
                            "host": public_host,
                            "paths": [
                                {"path": "/realms/", "pathType": "Prefix"},
                                {"path": "/resources/", "pathType": "Prefix"},
                            ],
                        }
                    ],
                    "tls": [{"hosts": [public_host], "secretName": "keycloak-tls"}],
                },
            },
            depends_on=[realm, *([self.releases["postgresql"]] if "postgresql" in self.releases else [])],
        )

    def _nacos(self) -> dict[str, pulumi.Output[str]]:
        """Nacos with auth on, and the account the services join it with (username, password)."""
        # Nacos 3 refuses to start without its auth token (Base64, >= 32 bytes decoded: 64 alphanumerics
        # decode to 48) and the server identity pair; all three are generated secrets.
        storage_class = self._config.storage_class
        password = generated_password("nacos-admin-password", self)
        self._secret("nacos-admin", NAMESPACES["nacos"], {"username": "nacos", "password": password})
        self._release(
            "nacos",
            {
                "global": {"mode": "standalone"},
                "nacos": {
                    "replicaCount": 1,
                    "storage": {"type": "embedded"},
                    "authToken": generated_password("nacos-auth-token", self, 64),
                    "identityKey": "folio-nacos",
                    "identityValue": generated_password("nacos-identity", self),
                },
                "service": {"type": "ClusterIP", "port": 8848},
                "resources": self._res("nacos", "1Gi"),
                # Embedded storage in a volume when the cluster has a storage class; else in the pod (the
                # config the app reads is re-applied from the repo on every deploy, so nothing is lost).
                "persistence": (
                    {"enabled": True, "data": {"storageClassName": storage_class}}
                    if storage_class
                    else {"enabled": False}
                ),
            },
        )
        return {"username": pulumi.Output.from_input("nacos"), "password": password}

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
                "singleBinary": {"replicas": 1, "resources": self._res("loki")},
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
                "persistence": {"enabled": True, "size": "4Gi"},
            },
        )
        return "otlp/tempo"

    def _fences(self) -> None:
        """Ingress NetworkPolicies for the namespaces holding data: only the callers that need a store reach it."""
        on = self._config.platform
        folio = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "folio"}}}
        keycloak = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACES["keycloak"]}}
        }
        rules: dict[str, list[dict[str, Any]]] = {}
        stores = (
            ("postgresql", on.postgresql.mode, [5432], [folio, *([keycloak] if on.keycloak.enabled else [])]),
            ("redis", on.redis.mode, [6379], [folio]),
            ("neo4j", on.neo4j.mode, [7687], [folio]),
            ("qdrant", on.qdrant.mode, [6333, 6334], [folio]),
        )
        for store, mode, ports, peers in stores:
            if mode == "chart":
                rules.setdefault(NAMESPACES[store], []).append(
                    {"from": peers, "ports": [{"protocol": "TCP", "port": port} for port in ports]}
                )
        if on.nacos.enabled:
            rules.setdefault(NAMESPACES["nacos"], []).append(
                {"from": [folio], "ports": [{"protocol": "TCP", "port": port} for port in (8848, 9848)]}
            )
        for namespace_name, ingress in rules.items():
            # Pods of the namespace keep talking to each other (a store's own replicas and jobs).
            ingress.append({"from": [{"podSelector": {}}]})
            k8s.networking.v1.NetworkPolicy(
                f"fence-{namespace_name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="folio-fence", namespace=namespace_name),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                    policy_types=["Ingress"],
                    ingress=ingress,  # type: ignore[arg-type]  # plain dicts in the API's own shape
                ),
                opts=pulumi.ResourceOptions(
                    parent=self, provider=self._k8s, depends_on=[self._namespace(namespace_name)]
                ),
            )

    def _harbor(self) -> None:
        admin = generated_password("harbor-admin-password", self)
        self._secret("harbor-admin", "harbor", {"HARBOR_ADMIN_PASSWORD": admin})
        host = f"harbor.{self._config.domain}"
        component = {"resources": self._res("harbor")}
        self._release(
            "harbor",
            {
                "externalURL": f"https://{host}",
                "existingSecretAdminPassword": "harbor-admin",
                "existingSecretAdminPasswordKey": "HARBOR_ADMIN_PASSWORD",
                "expose": {
                    "type": "ingress",
                    "tls": {"enabled": True, "certSource": "secret", "secret": {"secretName": "harbor-tls"}},
                    "ingress": {
                        "className": "nginx",
                        "hosts": {"core": host},
                        "annotations": self._tls_annotations(),
                    },
                },
                "core": component,
                "jobservice": component,
                "registry": {"registry": component, "controller": component},
                "portal": component,
                "trivy": {"enabled": True, **component},
                "database": {"internal": component},
                "redis": {"internal": component},
            },
        )

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
