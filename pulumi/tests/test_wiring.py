"""The app release receives the platform's endpoints; bring-your-own components replace them."""

from typing import Any

import pytest

from folio_deploy.app import SERVICES
from folio_deploy.config import ConfigError
from folio_deploy.offline import Evaluation, evaluate


def app_values(evaluation: Evaluation) -> dict[str, Any]:
    values: dict[str, Any] = evaluation.releases()["folio"].plain("values")
    return values


def secret_data(evaluation: Evaluation, name: str) -> dict[str, str]:
    data: dict[str, str] = evaluation.secrets()[("folio", name)].plain("stringData")
    return data


def test_app_values_carry_the_platform_endpoints(k3s: Evaluation) -> None:
    values = app_values(k3s)
    assert values["global"]["auth"]["issuerUrl"] == f"{k3s.outputs['keycloakUrl']}/realms/folio"
    assert (
        values["global"]["otel"]["endpoint"] == "http://otel-collector.observability.svc.cluster.local:4317"
    )
    assert values["global"]["nacos"]["address"] == "nacos-cs.nacos.svc.cluster.local:8848"
    assert values["global"]["publicUrl"] == k3s.outputs["shopUrl"]
    assistant = values["services"]["assistant"]
    assert assistant["graphUrl"] == "bolt://neo4j.data.svc.cluster.local:7687"
    assert assistant["qdrantUrl"] == "http://qdrant.data.svc.cluster.local:6333"
    assert assistant["llmBaseUrl"] == "http://ollama.ai.svc.cluster.local:11434/v1"
    assert assistant["llmModel"] == "qwen2.5:0.5b"


def test_every_service_gets_an_image_from_the_configured_registry_and_tag(k8s: Evaluation) -> None:
    values = app_values(k8s)
    assert values["global"]["image"] == {"registry": "harbor.folio.example.com/folio", "tag": "latest"}
    assert set(values["services"]) == set(SERVICES)
    assert values["global"]["imagePullSecrets"] == [{"name": "folio-registry"}]


def test_data_stores_reach_the_services_through_secrets_the_values_name(k3s: Evaluation) -> None:
    services = app_values(k3s)["services"]
    for owner in ("catalog", "payment", "orders"):
        assert services[owner]["databaseSecret"] == f"folio-{owner}-database"
        url = secret_data(k3s, f"folio-{owner}-database")["url"]
        assert url == (
            f"postgresql://folio:generated-postgresql-folio-password@postgresql.data.svc.cluster.local:5432/{owner}"
        )
    assert secret_data(k3s, services["cart"]["redisSecret"])["url"] == (
        "redis://:generated-redis-password@redis-master.data.svc.cluster.local:6379"
    )
    assert secret_data(k3s, "folio-assistant-graph")["password"] == "generated-neo4j-password"
    assert secret_data(k3s, "folio-orders-oidc")["client-id"] == "folio-orders"
    assert secret_data(k3s, "folio-storefront-session")["secret"] == "generated-storefront-session-secret"


def test_platform_charts_read_their_passwords_from_the_secrets_pulumi_creates(k3s: Evaluation) -> None:
    secrets = k3s.secrets()
    postgres = k3s.releases()["postgresql"].plain("values")["auth"]
    assert postgres["existingSecret"] == "postgresql-auth"
    assert (
        secrets[("data", "postgresql-auth")].plain("stringData")["password"]
        == "generated-postgresql-folio-password"
    )
    keycloak = k3s.releases()["keycloak"].plain("values")
    assert keycloak["database"]["existingSecret"] == "keycloak-db"
    assert (
        secrets[("identity", "keycloak-db")].plain("stringData")["password"]
        == "generated-postgresql-folio-password"
    )
    grafana = k3s.releases()["kube-prometheus-stack"].plain("values")["grafana"]["admin"]
    assert ("observability", grafana["existingSecret"]) in secrets


def test_own_postgresql_replaces_the_chart_and_its_address_reaches_the_app() -> None:
    evaluation = evaluate(
        "k3s",
        secrets={"sshPrivateKey": "key", "postgresqlPassword": "config-secret-pg/pw"},
        overrides={
            "platform": {
                "postgresql": {"enabled": False, "external": {"host": "db.example.org", "port": 6432}}
            }
        },
    )
    assert "postgresql" not in evaluation.releases()
    url = secret_data(evaluation, "folio-catalog-database")["url"]
    assert url == "postgresql://folio:config-secret-pg%2Fpw@db.example.org:6432/catalog"
    keycloak = evaluation.releases()["keycloak"].plain("values")["database"]
    assert keycloak["hostname"] == "db.example.org"


def test_own_llm_endpoint_replaces_ollama() -> None:
    evaluation = evaluate(
        "k3s",
        secrets={"sshPrivateKey": "key"},
        overrides={"platform": {"llm": {"enabled": False, "externalBaseUrl": "https://llm.example.org/v1"}}},
    )
    assert "ollama" not in evaluation.releases()
    assert app_values(evaluation)["services"]["assistant"]["llmBaseUrl"] == "https://llm.example.org/v1"


def test_own_postgresql_without_its_password_stops_with_the_command_to_set_it() -> None:
    with pytest.raises(ConfigError, match=r"pulumi config set --secret folio:postgresqlPassword"):
        evaluate(
            "k3s",
            secrets={"sshPrivateKey": "key"},
            overrides={
                "platform": {"postgresql": {"enabled": False, "external": {"host": "db", "port": 5432}}}
            },
        )


def test_switching_observability_off_removes_its_releases_and_the_grafana_url() -> None:
    evaluation = evaluate(
        "k3s", secrets={"sshPrivateKey": "key"}, overrides={"platform": {"observability": {"enabled": False}}}
    )
    assert {"kube-prometheus-stack", "loki", "opentelemetry-collector"}.isdisjoint(evaluation.releases())
    assert "observability" not in evaluation.namespaces()
    assert evaluation.outputs["grafanaUrl"] is None
    assert app_values(evaluation)["global"]["otel"]["endpoint"] == ""
