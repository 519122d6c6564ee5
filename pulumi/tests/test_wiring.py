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


def test_app_values_carry_the_platform_endpoints(k8s: Evaluation) -> None:
    values = app_values(k8s)
    issuer = f"{k8s.outputs['keycloakUrl']}/realms/folio"
    # Tokens name the public issuer; keys and tokens come from Keycloak's in-cluster Service.
    internal = "http://keycloak-http.keycloak.svc.cluster.local/realms/folio"
    assert values["auth"] == {"issuerUrl": issuer, "audience": "folio", "discoveryUrl": internal}
    assert values["gateway"]["oidc"]["discovery"] == f"{internal}/.well-known/openid-configuration"
    assert values["nacos"]["serverAddresses"] == "nacos-cs.nacos.svc.cluster.local:8848"
    assert values["nacos"]["credentials"]["secretName"] == "folio-nacos"
    assert secret_data(k8s, "folio-nacos")["password"] == "generated-nacos-admin-password"
    assert (
        values["global"]["otel"]["endpoint"] == "http://otel-collector.observability.svc.cluster.local:4317"
    )
    assert values["gateway"]["host"] == "shop.folio.example.com"
    assistant = values["services"]["assistant"]
    assert assistant["graph"] == {"secretName": "folio-assistant-graph", "secretKey": "url"}
    assert secret_data(k8s, "folio-assistant-graph")["url"] == (
        "neo4j://neo4j:generated-neo4j-password@neo4j.folio-data.svc.cluster.local:7687"
    )
    assert assistant["qdrantUrl"] == "http://qdrant.folio-data.svc.cluster.local:6333"
    assert assistant["qdrantApiKey"] == {"secretName": "folio-assistant-qdrant", "secretKey": "api-key"}
    assert secret_data(k8s, "folio-assistant-qdrant")["api-key"] == "generated-qdrant-api-key"
    assert assistant["llm"] == {
        "baseUrl": "http://ollama.ai.svc.cluster.local:11434/v1",
        "model": "qwen2.5:0.5b",
    }


def test_k3s_keeps_the_assistants_graph_and_vectors_embedded(k3s: Evaluation) -> None:
    assistant = app_values(k3s)["services"]["assistant"]
    assert assistant["graph"] == {"secretName": ""}
    assert assistant["qdrantUrl"] == ""
    assert assistant["persistence"] == {"enabled": True}
    assert ("folio", "folio-assistant-graph") not in k3s.secrets()


def test_network_policies_let_the_app_reach_exactly_the_stores_the_platform_installed(
    k3s: Evaluation, k8s: Evaluation
) -> None:
    def egress(evaluation: Evaluation) -> set[tuple[str, tuple[int, ...]]]:
        entries = app_values(evaluation)["networkPolicy"]["platformEgress"]
        return {(entry["namespace"], tuple(entry["ports"])) for entry in entries}

    common = {
        ("folio-data", (5432,)),
        ("folio-data", (6379,)),
        ("keycloak", (8080,)),
        ("nacos", (8848, 9848)),
        ("observability", (4317, 4318)),
        ("ai", (11434,)),
    }
    assert egress(k3s) == common
    assert egress(k8s) == common | {("folio-data", (7687,)), ("folio-data", (6333, 6334))}
    # Nothing of the shop leaves the cluster: no service gets egress to the internet.
    for evaluation in (k3s, k8s):
        assert app_values(evaluation)["networkPolicy"]["externalEgress"] == {"ports": [], "services": []}


def test_every_service_gets_an_image_from_the_configured_registry_and_tag(k8s: Evaluation) -> None:
    values = app_values(k8s)
    assert values["global"]["image"] == {"registry": "harbor.folio.example.com/folio", "tag": "latest"}
    assert set(values["services"]) == set(SERVICES)
    assert values["global"]["imagePullSecrets"] == [{"name": "folio-registry"}]
    assert "folio-registry" in k8s.releases()["folio"].depends_on


def test_the_chart_profile_file_matches_the_stack_profile(k3s: Evaluation, k8s: Evaluation) -> None:
    def files(evaluation: Evaluation) -> list[str]:
        assets = evaluation.releases()["folio"].plain("valueYamlFiles")
        return [str(asset.path).rsplit("/", 1)[-1] for asset in assets]

    assert files(k3s) == ["values-k3s.yaml"]
    assert files(k8s) == ["values-k8s.yaml"]
    assert app_values(k3s)["services"]["catalog"]["autoscaling"]["enabled"] is False
    assert app_values(k8s)["services"]["catalog"]["replicas"] == 2


def test_data_stores_reach_the_services_through_secrets_the_values_name(k3s: Evaluation) -> None:
    services = app_values(k3s)["services"]
    for owner in ("catalog", "payment", "orders"):
        assert services[owner]["database"] == {"secretName": f"folio-{owner}-database", "secretKey": "url"}
        url = secret_data(k3s, f"folio-{owner}-database")["url"]
        assert url == (
            "postgresql://folio:generated-postgresql-folio-password"
            f"@postgresql.folio-data.svc.cluster.local:5432/{owner}"
        )
    assert services["cart"]["redis"]["secretName"] == "folio-cart-redis"
    assert secret_data(k3s, "folio-cart-redis")["url"] == (
        "redis://:generated-redis-password@redis-master.folio-data.svc.cluster.local:6379"
    )
    session = services["storefront"]["sessionSecret"]
    assert (
        secret_data(k3s, session["secretName"])[session["secretKey"]] == "generated-storefront-session-secret"
    )
    for client in ("storefront", "orders", "assistant"):
        oidc = services[client]["oidcClient"]
        assert secret_data(k3s, oidc["secretName"])[oidc["secretKey"]] == f"generated-{client}-oidc-secret"
    gateway = secret_data(k3s, app_values(k3s)["gateway"]["oidc"]["secretName"])
    assert gateway == {"client_id": "folio-gateway", "client_secret": "generated-gateway-oidc-secret"}


def test_platform_charts_read_their_passwords_from_the_secrets_pulumi_creates(k3s: Evaluation) -> None:
    secrets = k3s.secrets()
    postgres = k3s.releases()["postgresql"].plain("values")["auth"]
    assert postgres["existingSecret"] == "postgresql-auth"
    stored = secrets[("folio-data", "postgresql-auth")].plain("stringData")
    assert stored["password"] == "generated-postgresql-folio-password"
    keycloak = k3s.releases()["keycloak"].plain("values")
    assert keycloak["database"]["existingSecret"] == "keycloak-db"
    stored = secrets[("keycloak", "keycloak-db")].plain("stringData")
    assert stored["password"] == "generated-postgresql-folio-password"
    grafana = k3s.releases()["kube-prometheus-stack"].plain("values")["grafana"]["admin"]
    assert ("observability", grafana["existingSecret"]) in secrets


def test_own_postgresql_replaces_the_chart_and_its_address_reaches_the_app() -> None:
    evaluation = evaluate(
        "k3s",
        secrets={"sshPrivateKey": "key", "postgresqlPassword": "config-secret-pg/pw"},
        overrides={
            "platform": {
                "postgresql": {"mode": "external", "external": {"host": "db.example.org", "port": 6432}},
                "neo4j": {"mode": "embedded"},
                "qdrant": {"mode": "embedded"},
            }
        },
    )
    assert "postgresql" not in evaluation.releases()
    url = secret_data(evaluation, "folio-catalog-database")["url"]
    assert url == "postgresql://folio:config-secret-pg%2Fpw@db.example.org:6432/catalog"
    assert evaluation.releases()["keycloak"].plain("values")["database"]["hostname"] == "db.example.org"
    policy = app_values(evaluation)["networkPolicy"]
    assert 6432 in policy["externalEgress"]["ports"]
    assert all(5432 not in entry["ports"] for entry in policy["platformEgress"])


def test_own_llm_endpoint_replaces_ollama() -> None:
    evaluation = evaluate(
        "k3s",
        secrets={"sshPrivateKey": "key"},
        overrides={"platform": {"llm": {"enabled": False, "externalBaseUrl": "https://llm.example.org/v1"}}},
    )
    assert "ollama" not in evaluation.releases()
    assert app_values(evaluation)["services"]["assistant"]["llm"]["baseUrl"] == "https://llm.example.org/v1"
    # Only the assistant may leave the cluster, and only for HTTPS.
    assert app_values(evaluation)["networkPolicy"]["externalEgress"] == {
        "ports": [443],
        "services": ["assistant"],
    }


def test_own_postgresql_without_its_password_stops_with_the_command_to_set_it() -> None:
    with pytest.raises(ConfigError, match=r"pulumi config set --secret folio:postgresqlPassword"):
        evaluate(
            "k3s",
            secrets={"sshPrivateKey": "key"},
            overrides={
                "platform": {"postgresql": {"mode": "external", "external": {"host": "db", "port": 5432}}}
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


def test_keycloak_and_the_app_share_each_confidential_clients_secret(k3s: Evaluation) -> None:
    realm = k3s.secrets()[("keycloak", "keycloak-realm-env")].plain("stringData")
    for client in ("storefront", "orders", "assistant"):
        assert (
            secret_data(k3s, f"folio-{client}-oidc")["client-secret"]
            == (realm[f"FOLIO_IDENTITY_{client.upper()}_CLIENT_SECRET"])
        )
    assert (
        secret_data(k3s, "folio-gateway-oidc")["client_secret"]
        == realm["FOLIO_IDENTITY_GATEWAY_CLIENT_SECRET"]
    )
    assert realm["FOLIO_IDENTITY_SHOP_URL"] == k3s.outputs["shopUrl"]
    # LDAPS, bound as a read-only account whose entry the directory is loaded with.
    assert realm["FOLIO_IDENTITY_LDAP_URL"] == "ldaps://openldap.keycloak.svc.cluster.local:636"
    assert realm["FOLIO_IDENTITY_LDAP_BIND_DN"] == "cn=keycloak-reader,ou=services,dc=folio,dc=example"
    assert realm["FOLIO_IDENTITY_LDAP_BIND_CREDENTIAL"] == "generated-openldap-reader-password"
    directory = k3s.releases()["openldap"].plain("values")
    assert (
        "userPassword: generated-openldap-reader-password" in directory["customLdifFiles"]["10-services.ldif"]
    )
    assert directory["customTLS"] == {"enabled": True, "secret": "openldap-tls"}
    keycloak = k3s.releases()["keycloak"].plain("values")
    assert "keycloak-realm-env" in keycloak["extraEnvFrom"]
