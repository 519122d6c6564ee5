"""Data: the shop's stores (PostgreSQL, Redis, Neo4j, Qdrant) and the assistant's LLM, and the ingress
NetworkPolicies that fence the namespaces holding data."""

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from folio_deploy.config import require_secret_config, secret_config
from folio_deploy.platform.base import NAMESPACES, Context, Part, _dns, _svc
from folio_deploy.resources import generated_password


@dataclass(frozen=True)
class Postgres:
    """Where the shop's PostgreSQL is and the account every owner service (and Keycloak) uses."""

    host: pulumi.Output[str]
    port: int
    user: str
    password: pulumi.Output[str]


class Data(Part):
    """The stores in their charts (or yours: `mode: external`), the LLM, and the fences around them."""

    postgres: Postgres
    redis_url: pulumi.Output[str]  # secret: carries the password
    graph_url: pulumi.Output[str] | None  # secret; None = embedded in the assistant
    qdrant_url: pulumi.Output[str] | None  # None = embedded
    qdrant_api_key: pulumi.Output[str] | None
    llm_base_url: pulumi.Output[str]

    def __init__(self, name: str, context: Context, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Data", name, context, opts)
        self.postgres = self._postgresql()
        self.redis_url = self._redis()
        self.graph_url = self._neo4j()
        self.qdrant_url, self.qdrant_api_key = self._qdrant()
        self.llm_base_url = self._llm()
        self.register_outputs({})

    def fence(self) -> None:
        """Ingress policies for the data and Nacos namespaces (after Nacos exists)."""
        self._fences()

    def _postgresql(self) -> Postgres:
        settings = self._config.platform.postgresql
        if settings.mode == "external":
            external = settings.external
            assert external is not None  # the config model guarantees it
            password = require_secret_config("postgresqlPassword", "platform.postgresql is your own")
            return Postgres(
                pulumi.Output.from_input(external.host), external.port, external.username or "folio", password
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
                    "persistence": self._volume(
                        "storageClass", size="8Gi" if self._config.profile == "small" else "50Gi"
                    ),
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
        return Postgres(host, 5432, "folio", password)

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
                "master": {
                    "resources": self._res("redis"),
                    "persistence": self._volume("storageClass", size="1Gi"),
                },
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
                    "data": (
                        {
                            "mode": "dynamic",
                            "dynamic": {
                                "storageClassName": self._config.storage_class,
                                "requests": {"storage": "4Gi"},
                            },
                        }
                        if self._config.storage_class
                        else {
                            "mode": "defaultStorageClass",
                            "defaultStorageClass": {"requests": {"storage": "4Gi"}},
                        }
                    )
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
                "persistence": self._volume("storageClassName", size="4Gi"),
                # Every request needs the key: reaching the pod is not enough to read the vectors.
                "apiKey": {"valueFrom": {"secretKeyRef": {"name": "qdrant-auth", "key": "api-key"}}},
            },
        )
        return _svc(release, "qdrant", 6333, "http://"), api_key

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
                "persistentVolume": self._volume("storageClass", enabled=True, size="8Gi"),
            },
        )
        return pulumi.Output.concat(_svc(release, "ollama", 11434, "http://"), "/v1")

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
