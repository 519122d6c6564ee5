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

from folio_deploy.config import StackConfig, require_secret_config
from folio_deploy.platform import Platform
from folio_deploy.resources import generated_password, helm_release, kube_secret, namespace, requests

NAMESPACE = "folio"
# Every service that ships an image and runs in the cluster (dev-oidc is embedded-only: Keycloak replaces it).
SERVICES = ("catalog", "cart", "payment", "orders", "storefront", "assistant")
DATABASE_OWNERS = ("catalog", "payment", "orders")
# Services that call others as themselves (OIDC client credentials).
CONFIDENTIAL_CLIENTS = ("orders", "assistant")

SIZES: dict[str, dict[str, tuple[str, str]]] = {
    "small": {
        "catalog": ("50m", "128Mi"),
        "cart": ("25m", "96Mi"),
        "payment": ("25m", "96Mi"),
        "orders": ("50m", "128Mi"),
        "storefront": ("50m", "160Mi"),
        "assistant": ("100m", "384Mi"),
    },
    "standard": {
        "catalog": ("250m", "256Mi"),
        "cart": ("100m", "192Mi"),
        "payment": ("100m", "192Mi"),
        "orders": ("250m", "256Mi"),
        "storefront": ("250m", "320Mi"),
        "assistant": ("500m", "1Gi"),
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
        ns = namespace(NAMESPACE, self, provider, {"istio-injection": "enabled"} if mesh else None)
        secrets: list[k8s.core.v1.Secret] = []

        def secret(secret_name: str, data: dict[str, pulumi.Input[str]]) -> str:
            created = kube_secret(secret_name, NAMESPACE, data, parent=self, provider=provider)
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
            "folio-storefront-session", {"secret": generated_password("storefront-session-secret", self, 48)}
        )
        for client in CONFIDENTIAL_CLIENTS:
            secret(
                f"folio-{client}-oidc",
                {
                    "client-id": f"folio-{client}",
                    "client-secret": generated_password(f"{client}-oidc-secret", self),
                },
            )
        secret("folio-assistant-graph", {"username": "neo4j", "password": endpoints.neo4j_password})

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
            k8s.core.v1.Secret(
                "folio-registry",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="folio-registry", namespace=NAMESPACE),
                type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": docker_config},
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[ns]),
            )
            pull_secrets.append({"name": "folio-registry"})

        shop_host = f"shop.{config.domain}"
        self.shop_url = f"https://{shop_host}"
        sizes = SIZES[config.profile]
        service_values: dict[str, dict[str, Any]] = {
            service: {"replicaCount": config.app.replicas, "resources": requests(*sizes[service])}
            for service in SERVICES
        }
        for service in DATABASE_OWNERS:
            service_values[service]["databaseSecret"] = f"folio-{service}-database"
        service_values["cart"]["redisSecret"] = "folio-cart-redis"
        service_values["storefront"]["sessionSecret"] = "folio-storefront-session"
        for client in CONFIDENTIAL_CLIENTS:
            service_values[client]["oidcSecret"] = f"folio-{client}-oidc"
        service_values["assistant"].update(
            {
                "graphUrl": endpoints.neo4j_url,
                "graphSecret": "folio-assistant-graph",
                "qdrantUrl": endpoints.qdrant_url,
                "llmBaseUrl": endpoints.llm_base_url,
                "llmModel": endpoints.llm_model,
            }
        )

        values: dict[str, Any] = {
            "global": {
                "image": {"registry": config.app.image_registry, "tag": config.app.image_tag},
                "imagePullSecrets": pull_secrets,
                "publicUrl": self.shop_url,
                "auth": {"issuerUrl": endpoints.issuer_url or "", "audience": "folio"},
                "otel": {"endpoint": endpoints.otel_endpoint or ""},
                "nacos": {"address": endpoints.nacos_address or ""},
                "mesh": {"istio": mesh},
            },
            "ingress": {
                "enabled": config.platform.ingress_nginx.enabled,
                "className": "nginx",
                "host": shop_host,
                "tlsSecretName": "shop-tls",
                "annotations": (
                    {"cert-manager.io/cluster-issuer": f"folio-{config.certificates.issuer}"}
                    if config.platform.cert_manager.enabled
                    else {}
                ),
            },
            "gateway": {"apisix": {"enabled": endpoints.gateway_address is not None}},
            "services": service_values,
        }
        # Pods need the sidecar injector and the ServiceMonitor CRD before they are created.
        waits_for = [
            platform.releases[key] for key in ("istiod", "kube-prometheus-stack") if key in platform.releases
        ]
        self.release = helm_release(
            "folio",
            NAMESPACE,
            values,
            parent=self,
            provider=provider,
            depends_on=[ns, *secrets, *waits_for],
            chart_path=str(chart_path),
        )
        self.register_outputs({"shopUrl": self.shop_url})
