"""The App component: the folio chart (helm/folio) wired to the platform's endpoints and secrets.

Secrets reach the pods only through Kubernetes Secrets created here (the chart's values name them);
the values themselves carry addresses, image coordinates and Secret names, nothing secret.
"""

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s
import yaml

from folio_deploy.config import StackConfig, require_secret_config
from folio_deploy.graph.settings import callees
from folio_deploy.neuvector import security_rules
from folio_deploy.platform import APP_NAMESPACE, OIDC_CLIENTS, Endpoints, Platform
from folio_deploy.resources import generated_password, helm_release, kube_secret, namespace, requests
from folio_deploy.supply_chain import INCLUDE_LABEL

NAMESPACE = APP_NAMESPACE
# Every service that ships an image and runs in the cluster (dev-oidc is embedded-only: Keycloak replaces it).
SERVICES = ("catalog", "cart", "payment", "orders", "storefront", "assistant")
DATABASE_OWNERS = ("catalog", "payment", "orders")
# Services that call others as themselves (OIDC client credentials).
CONFIDENTIAL_CLIENTS = ("storefront", "orders", "assistant")
# The chart's own profile files (helm/folio/values-<profile>.yaml) per stack profile.
PROFILE_FILES = {"small": "values-k3s.yaml", "standard": "values-k8s.yaml"}

# (cpu request, memory request, memory limit) per service, as helm/folio's profiles size them.
SIZES: dict[str, dict[str, tuple[str, str, str]]] = {
    "small": {
        "catalog": ("50m", "128Mi", "320Mi"),
        "cart": ("50m", "96Mi", "256Mi"),
        "payment": ("50m", "128Mi", "320Mi"),
        "orders": ("50m", "128Mi", "320Mi"),
        "storefront": ("100m", "128Mi", "320Mi"),
        "assistant": ("250m", "768Mi", "1536Mi"),  # the embedding model lives in memory
    },
    "standard": {
        "catalog": ("100m", "192Mi", "384Mi"),
        "cart": ("100m", "128Mi", "256Mi"),
        "payment": ("100m", "160Mi", "320Mi"),
        "orders": ("100m", "192Mi", "384Mi"),
        "storefront": ("200m", "192Mi", "384Mi"),
        "assistant": ("500m", "768Mi", "1536Mi"),
    },
}


def _database_url(user: str, password: str, host: str, port: int, database: str) -> str:
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{database}"


def _dockerconfigjson(registry: str, username: str, password: str) -> str:
    host = registry.split("/", 1)[0]
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"username": username, "password": password, "auth": auth}}})


class App(pulumi.ComponentResource):
    """The folio Helm release and the Secrets it reads, in namespace `folio`."""

    release: k8s.helm.v3.Release
    shop_url: str

    def __init__(
        self,
        name: str,
        config: StackConfig,
        platform: Platform,
        provider: k8s.Provider,
        chart_path: Path,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("folio:index:App", name, None, opts)
        endpoints = platform.endpoints
        mesh = config.platform.istio.enabled
        labels = {"istio-injection": "enabled"} if mesh else {}
        signed = config.platform.signed_images
        if signed is not None and signed.enabled:
            # The policy controller verifies the images of this namespace's pods (and refuses unsigned ones).
            labels[INCLUDE_LABEL] = "true"
        ns = namespace(NAMESPACE, self, provider, labels or None)
        secrets: list[k8s.core.v1.Secret] = []

        def secret(secret_name: str, data: dict[str, pulumi.Input[str]]) -> str:
            created = kube_secret(
                secret_name, NAMESPACE, data, parent=self, provider=provider, depends_on=[ns]
            )
            secrets.append(created)
            return secret_name

        def database_url(database: str) -> pulumi.Output[str]:
            def build(args: list[str]) -> str:
                host, password = args
                return _database_url(
                    endpoints.postgres_user, password, host, endpoints.postgres_port, database
                )

            return pulumi.Output.all(endpoints.postgres_host, endpoints.postgres_password).apply(build)

        for service in DATABASE_OWNERS:
            secret(f"folio-{service}-database", {"url": database_url(service)})
        secret("folio-cart-redis", {"url": endpoints.redis_url})
        secret(
            "folio-storefront-session",
            {"session-secret": generated_password("storefront-session-secret", self, 48)},
        )
        client_secrets = endpoints.oidc_client_secrets
        for client in CONFIDENTIAL_CLIENTS:
            secret(
                f"folio-{client}-oidc",
                {"client-id": OIDC_CLIENTS[client], "client-secret": client_secrets[client]},
            )
        # The gateway's own confidential client (APISIX openid-connect), keys as the ingress controller reads them.
        secret(
            "folio-gateway-oidc",
            {"client_id": OIDC_CLIENTS["gateway"], "client_secret": client_secrets["gateway"]},
        )
        if endpoints.graph_url is not None:
            secret("folio-assistant-graph", {"url": endpoints.graph_url})
        if endpoints.qdrant_api_key is not None:
            secret("folio-assistant-qdrant", {"api-key": endpoints.qdrant_api_key})
        if endpoints.nacos_credentials is not None:
            secret("folio-nacos", dict(endpoints.nacos_credentials))

        pull_secrets: list[dict[str, str]] = []
        if config.app.registry_username:
            username = config.app.registry_username
            registry_password = require_secret_config(
                "registryPassword", "app.registryUsername is set: the image pull secret needs its password"
            )
            registry = config.app.image_registry

            def docker_config_json(password: str) -> str:
                return _dockerconfigjson(registry, username, password)

            docker_config: pulumi.Output[str] = pulumi.Output.secret(
                registry_password.apply(docker_config_json)
            )
            pull_secret = k8s.core.v1.Secret(
                "folio-registry",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="folio-registry", namespace=NAMESPACE),
                type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": docker_config},
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[ns]),
            )
            secrets.append(pull_secret)
            pull_secrets.append({"name": "folio-registry"})

        shop_host = f"shop.{config.domain}"
        self.shop_url = f"https://{shop_host}"
        values = self._values(config, endpoints, shop_host, pull_secrets)
        rules = self._runtime_rules(config, endpoints, chart_path, ns, provider, platform)
        # Pods need the sidecar injector, the ServiceMonitor CRD and the admission webhooks before they
        # are created, and NeuVector's rules before they run.
        waits_for = [
            platform.releases[key]
            for key in ("istiod", "kube-prometheus-stack", "policy-controller", "neuvector")
            if key in platform.releases
        ]
        self.release = helm_release(
            "folio",
            NAMESPACE,
            values,
            parent=self,
            provider=provider,
            depends_on=[ns, *secrets, *waits_for, *rules],
            chart_path=str(chart_path),
            # The chart's own profile (k3s: one replica, no HPA...); the values above win over it.
            value_files=[str(chart_path / PROFILE_FILES[config.profile])],
        )
        self.register_outputs({"shopUrl": self.shop_url})

    def _runtime_rules(
        self,
        config: StackConfig,
        endpoints: Endpoints,
        chart_path: Path,
        ns: k8s.core.v1.Namespace,
        provider: k8s.Provider,
        platform: Platform,
    ) -> list[pulumi.Resource]:
        """NeuVector's NvSecurityRule per service (folio_deploy.neuvector), when NeuVector is installed."""
        if "neuvector" not in platform.releases:
            return []
        chart = yaml.safe_load((chart_path / "values.yaml").read_text())
        ports = {service: int(chart["services"][service]["port"]) for service in SERVICES}
        inbound: dict[str, list[tuple[str, int]]] = {}
        if endpoints.gateway_address is not None:
            inbound.setdefault("storefront", []).append(("apisix", ports["storefront"]))
        if config.platform.observability.enabled and chart["observability"].get("metricsPort"):
            for service in SERVICES:
                inbound.setdefault(service, []).append(
                    ("observability", int(chart["observability"]["metricsPort"]))
                )
        objects = security_rules(
            namespace=NAMESPACE,
            ports=ports,
            callees={service: [c for c in callees(service) if c in SERVICES] for service in SERVICES},
            platform_egress=endpoints.egress,
            inbound=inbound,
            mode=config.platform.neuvector.mode,
            mesh=config.platform.istio.enabled,
        )
        return [
            k8s.apiextensions.CustomResource(
                f"neuvector-rule-{obj['metadata']['name']}",
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata=k8s.meta.v1.ObjectMetaArgs(**obj["metadata"]),
                spec=obj["spec"],
                opts=pulumi.ResourceOptions(
                    parent=self, provider=provider, depends_on=[ns, platform.releases["neuvector"]]
                ),
            )
            for obj in objects
        ]

    @staticmethod
    def _values(
        config: StackConfig, endpoints: Endpoints, shop_host: str, pull_secrets: list[dict[str, str]]
    ) -> dict[str, Any]:
        """The folio chart's values (helm/folio/values.yaml names every key) for this stack."""
        sizes = SIZES[config.profile]
        small = config.profile == "small"
        replicas = config.app.replicas
        services: dict[str, dict[str, Any]] = {
            service: {
                "replicas": replicas,
                "resources": requests(*sizes[service]),
                "autoscaling": {"enabled": not small, "minReplicas": replicas},
                "pdb": {"enabled": replicas > 1},
            }
            for service in SERVICES
        }
        for service in DATABASE_OWNERS:
            services[service]["database"] = {"secretName": f"folio-{service}-database", "secretKey": "url"}
        services["cart"]["redis"] = {"secretName": "folio-cart-redis", "secretKey": "url"}
        services["storefront"]["sessionSecret"] = {
            "create": False,
            "secretName": "folio-storefront-session",
            "secretKey": "session-secret",
        }
        for client in CONFIDENTIAL_CLIENTS:
            services[client]["oidcClient"] = {
                "clientId": f"folio-{client}",
                "secretName": f"folio-{client}-oidc",
                "secretKey": "client-secret",
            }
        embedded = endpoints.graph_url is None or endpoints.qdrant_url is None
        services["assistant"].update(
            {
                "graph": (
                    {"secretName": "folio-assistant-graph", "secretKey": "url"}
                    if endpoints.graph_url is not None
                    else {"secretName": ""}
                ),
                "qdrantUrl": endpoints.qdrant_url if endpoints.qdrant_url is not None else "",
                "qdrantApiKey": {
                    "secretName": "folio-assistant-qdrant" if endpoints.qdrant_api_key is not None else "",
                    "secretKey": "api-key",
                },
                "llm": {"baseUrl": endpoints.llm_base_url, "model": endpoints.llm_model},
                # The embedded graph / vector index live on the assistant's volume.
                "persistence": {"enabled": embedded},
            }
        )
        issuer = endpoints.issuer_url or ""
        # Discovery, keys and tokens from Keycloak's in-cluster Service; tokens still name `issuer`.
        discovery = endpoints.discovery_url or issuer
        return {
            "global": {
                "image": {"registry": config.app.image_registry, "tag": config.app.image_tag},
                "imagePullSecrets": pull_secrets,
                "storageClass": config.storage_class or "",
                # The standard profile is a production cluster: drill overlays and drill flags are refused there.
                "environment": "production" if config.profile == "standard" else pulumi.get_stack(),
                "otel": {"endpoint": endpoints.otel_endpoint or ""},
            },
            "auth": {"issuerUrl": issuer, "audience": "folio", "discoveryUrl": endpoints.discovery_url or ""},
            "nacos": {
                "serverAddresses": endpoints.nacos_addresses or "",
                "credentials": {
                    "secretName": "folio-nacos" if endpoints.nacos_credentials is not None else "",
                    "usernameKey": "username",
                    "passwordKey": "password",
                },
            },
            "services": services,
            "networkPolicy": {
                "platformEgress": endpoints.egress,
                "externalEgress": endpoints.external_egress,
            },
            "mesh": {"enabled": config.platform.istio.enabled},
            # Alertmanager gets Folio's routing from its own release (kube-prometheus-stack's
            # alertmanager.config); the chart's copy of it would be a Secret nothing reads.
            "observability": {"alertmanager": {"enabled": False}},
            "gateway": {
                "enabled": endpoints.gateway_address is not None,
                "host": shop_host,
                "oidc": {
                    "discovery": f"{discovery}/.well-known/openid-configuration",
                    "clientId": "folio-gateway",
                    "secretName": "folio-gateway-oidc",
                },
            },
            "ingress": {
                "enabled": config.platform.ingress_nginx.enabled,
                "className": "nginx",
                "clusterIssuer": f"folio-{config.certificates.issuer}",
                "tlsSecretName": "folio-shop-tls",
                "gatewayService": {"namespace": "apisix", "name": "apisix-gateway", "port": 80},
            },
        }
