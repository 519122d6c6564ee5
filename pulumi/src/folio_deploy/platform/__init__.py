"""The Platform component: every shared system the shop runs on, each a Helm release of its pinned chart,
composed of six components with typed outputs: Mesh, Edge, Data, Identity, Delivery, Observability.

Each part can be switched off in the stack config; the data stores can instead point at your own
(`mode: external`), and the assistant's graph and vectors can stay embedded in it (`mode: embedded`). What
the app needs from the platform leaves this component as `Endpoints`, so the App release is wired to the
real release outputs (and waits for them).
"""

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from folio_deploy.config import StackConfig
from folio_deploy.platform.base import NAMESPACES, OIDC_CLIENTS, Context
from folio_deploy.platform.data import Data
from folio_deploy.platform.delivery import Delivery
from folio_deploy.platform.edge import Edge
from folio_deploy.platform.guard import Guard
from folio_deploy.platform.identity import Identity
from folio_deploy.platform.mesh import Mesh
from folio_deploy.platform.observability import Observability
from folio_deploy.platform.registry import CiRobot
from folio_deploy.platform.storage import Storage

__all__ = ["APP_NAMESPACE", "OIDC_CLIENTS", "Endpoints", "Platform"]

# The namespace of the folio release (the App component makes it).
APP_NAMESPACE = "folio"


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


class Platform(pulumi.ComponentResource):
    """Ingress, certificates, mesh, gateway, identity, config center, data stores, LLM, registry, telemetry."""

    endpoints: Endpoints
    releases: dict[str, k8s.helm.v3.Release]
    namespaces: dict[str, k8s.core.v1.Namespace]
    keycloak_url: str | None
    grafana_url: str | None
    harbor_url: str | None
    ci_robot: CiRobot | None

    def __init__(
        self,
        name: str,
        config: StackConfig,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("folio:index:Platform", name, None, opts)
        self._config = config
        context = Context(config, provider)
        child = pulumi.ResourceOptions(parent=self)
        edge = Edge("edge", context, child)
        mesh = Mesh("mesh", context, child)
        Storage("storage", context, child)
        # Admission and runtime rules are in place before any workload they judge starts.
        Guard("guard", context, APP_NAMESPACE, child)
        data = Data("data", context, child)
        identity = Identity("identity", context, data.postgres, child)
        delivery = Delivery("delivery", context, child)
        edge.gateway()
        observability = Observability("observability", context, child)
        data.fence()

        self.releases = context.releases
        self.namespaces = context.namespaces
        self.keycloak_url = identity.keycloak_url
        self.grafana_url = observability.grafana_url
        self.harbor_url = delivery.harbor_url
        self.ci_robot = delivery.ci_robot
        self.mesh = mesh.enabled
        self.endpoints = Endpoints(
            postgres_host=data.postgres.host,
            postgres_port=data.postgres.port,
            postgres_user=data.postgres.user,
            postgres_password=data.postgres.password,
            redis_url=data.redis_url,
            graph_url=data.graph_url,
            qdrant_url=data.qdrant_url,
            llm_base_url=data.llm_base_url,
            llm_model=config.platform.llm.model,
            otel_endpoint=observability.otel_endpoint,
            issuer_url=identity.issuer_url,
            gateway_address=edge.gateway_address,
            oidc_client_secrets=identity.client_secrets,
            egress=self._egress(),
            external_egress=self._external_egress(),
            discovery_url=identity.discovery_url,
            nacos_addresses=delivery.nacos_addresses,
            nacos_credentials=delivery.nacos_credentials,
            qdrant_api_key=data.qdrant_api_key,
        )
        self.register_outputs({"releases": sorted(self.releases)})

    def _egress(self) -> list[dict[str, object]]:
        """What the app's NetworkPolicies must let out: one entry per in-cluster system it calls."""
        on = self._config.platform
        egress: list[dict[str, object]] = []
        stores = (
            (on.postgresql.mode, [5432], ["catalog", "payment", "orders"]),
            (on.redis.mode, [6379], ["cart", "storefront"]),  # carts; sessions
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
            (on.redis, ["cart", "storefront"]),
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
