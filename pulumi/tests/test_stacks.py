"""Each stack creates exactly the releases and namespaces it should, from pinned charts."""

import re
from pathlib import Path

import pytest

from folio_deploy.charts import CHARTS
from folio_deploy.offline import PROJECT_DIR, Evaluation

K3S_RELEASES = {
    "ingress-nginx",
    "cert-manager",
    "istio-base",
    "istiod",
    "apisix",
    "keycloak",
    "openldap",
    "nacos",
    "postgresql",
    "redis",
    "ollama",
    "kube-prometheus-stack",
    "loki",
    "opentelemetry-collector",
    "tempo",
    "longhorn",
    "neuvector",
    "policy-controller",
    "folio",
}
# The k8s stack adds what a lab node leaves out: public DNS, the registry, Deepflow with ClickHouse
# (which holds the traces Tempo holds on k3s), and Neo4j and Qdrant servers (on k3s the assistant keeps
# its graph and vectors embedded).
K8S_RELEASES = K3S_RELEASES - {"tempo"} | {"external-dns", "harbor", "deepflow", "neo4j", "qdrant"}

K3S_NAMESPACES = {
    "ingress-nginx",
    "cert-manager",
    "istio-system",
    "apisix",
    "keycloak",
    "nacos",
    "folio-data",
    "ai",
    "observability",
    "longhorn-system",
    "neuvector",
    "cosign-system",
    "folio",
}
K8S_NAMESPACES = K3S_NAMESPACES | {"external-dns", "harbor", "deepflow"}


@pytest.mark.parametrize(
    ("stack", "releases", "namespaces"),
    [("k3s", K3S_RELEASES, K3S_NAMESPACES), ("k8s", K8S_RELEASES, K8S_NAMESPACES)],
)
def test_stack_creates_exactly_the_expected_releases_and_namespaces(
    stack: str, releases: set[str], namespaces: set[str], request: pytest.FixtureRequest
) -> None:
    evaluation: Evaluation = request.getfixturevalue(stack)
    assert set(evaluation.releases()) == releases
    assert len(evaluation.of_type("kubernetes:helm.sh/v3:Release")) == len(releases), (
        "a release registered twice"
    )
    assert evaluation.namespaces() == namespaces
    for name, release in evaluation.releases().items():
        assert release.plain("namespace") in namespaces, (
            f"{name} goes to a namespace the stack does not create"
        )


def test_every_upstream_release_uses_its_pinned_chart_version(k8s: Evaluation) -> None:
    for name, release in k8s.releases().items():
        if name in ("folio", "nacos"):
            continue
        ref = CHARTS[name]
        assert release.plain("chart") == ref.chart
        assert release.plain("version") == ref.version
        repo = (release.plain("repositoryOpts") or {}).get("repo")
        assert repo == ref.repo


def test_pinned_versions_are_exact_not_ranges() -> None:
    for name, ref in CHARTS.items():
        if name == "nacos":
            assert re.fullmatch(r"[0-9a-f]{40}", ref.version), "nacos is pinned to a commit of nacos-k8s"
        else:
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", ref.version), f"{name}: {ref.version} is not one version"


def test_nacos_and_the_app_come_from_local_chart_paths(k3s: Evaluation) -> None:
    releases = k3s.releases()
    assert releases["nacos"].plain("chart") == "vendor/nacos"
    assert Path(releases["folio"].plain("chart")) == PROJECT_DIR.parent / "helm" / "folio"
    assert releases["folio"].plain("dependencyUpdate") is True  # pulls helm/folio-lib in


def test_stack_outputs_give_the_shop_grafana_and_keycloak_urls(k3s: Evaluation, k8s: Evaluation) -> None:
    assert k3s.outputs["shopUrl"] == "https://shop.192.0.2.10.sslip.io"
    assert k3s.outputs["grafanaUrl"] == "https://grafana.192.0.2.10.sslip.io"
    assert k3s.outputs["keycloakUrl"] == "https://keycloak.192.0.2.10.sslip.io"
    assert k3s.outputs["harborUrl"] is None
    assert k8s.outputs["shopUrl"] == "https://shop.folio.example.com"
    assert k8s.outputs["harborUrl"] == "https://harbor.folio.example.com"
    assert set(k8s.outputs["releases"]) == K8S_RELEASES


def test_the_app_and_its_gateway_are_in_the_mesh_and_the_others_are_not(k3s: Evaluation) -> None:
    labels = {
        ns.plain("metadata")["name"]: ns.plain("metadata").get("labels", {})
        for ns in k3s.of_type("kubernetes:core/v1:Namespace")
    }
    meshed = {"folio", "apisix"}
    assert all(labels[name]["istio-injection"] == "enabled" for name in meshed)
    assert all("istio-injection" not in found for name, found in labels.items() if name not in meshed)


def _issuers(evaluation: Evaluation) -> dict[str, dict[str, object]]:
    return {
        issuer.plain("metadata")["name"]: issuer.plain("spec")
        for issuer in evaluation.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer")
    }


def test_certificates_come_from_the_stack_issuer(k3s: Evaluation, k8s: Evaluation) -> None:
    assert _issuers(k3s)["folio-selfsigned"] == {"selfSigned": {}}
    acme = _issuers(k8s)["folio-letsencrypt"]["acme"]
    assert isinstance(acme, dict)
    assert acme["email"] == "platform@example.com"
    # Internal endpoints (the directory's LDAPS) get theirs from the cluster's own CA on both stacks.
    for evaluation in (k3s, k8s):
        assert _issuers(evaluation)["folio-internal"] == {"ca": {"secretName": "folio-internal-ca"}}
    app = k8s.releases()["folio"].plain("values")
    assert app["ingress"]["clusterIssuer"] == "folio-letsencrypt"


def test_external_dns_writes_the_stack_domain_with_your_providers_credentials(k8s: Evaluation) -> None:
    values = k8s.releases()["external-dns"].plain("values")
    assert values["provider"] == {"name": "cloudflare"}
    assert values["domainFilters"] == ["folio.example.com"]
    assert values["policy"] == "upsert-only"
    (env,) = values["env"]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "external-dns-credentials", "key": "CF_API_TOKEN"}


def test_nothing_is_created_before_what_it_needs(k3s: Evaluation) -> None:
    """Namespaces before what lives in them, Secrets before the releases reading them, CRDs first."""
    for secret in k3s.of_type("kubernetes:core/v1:Secret"):
        assert f"ns-{secret.plain('metadata')['namespace']}" in secret.depends_on, secret.name
    for name, release in k3s.releases().items():
        assert f"ns-{release.plain('namespace')}" in release.depends_on, name
    folio_secrets = {
        secret.name
        for secret in k3s.of_type("kubernetes:core/v1:Secret")
        if secret.name.startswith("secret-folio-folio-")
    }
    reads = {
        "postgresql": {"secret-folio-data-postgresql-auth"},
        "redis": {"secret-folio-data-redis-auth"},
        "openldap": {"secret-keycloak-openldap-admin"},
        "keycloak": {
            "secret-keycloak-keycloak-admin",
            "secret-keycloak-keycloak-db",
            "secret-keycloak-keycloak-realm-env",
        },
        "kube-prometheus-stack": {"secret-observability-grafana-admin"},
        "folio": folio_secrets,
    }
    releases = k3s.releases()
    for name, secrets in reads.items():
        missing = secrets - releases[name].depends_on
        assert not missing, f"{name} may start before {missing}"
    assert "istio-base" in releases["istiod"].depends_on
    assert "postgresql" in releases["keycloak"].depends_on
    assert {"istiod", "kube-prometheus-stack"} <= releases["folio"].depends_on
    for issuer in k3s.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer"):
        assert issuer.depends_on & {"cert-manager", "internal-ca", "internal-ca-root-issuer"}, issuer.name


def test_the_app_waits_for_the_platform_services_its_secrets_point_at(k3s: Evaluation) -> None:
    secrets = {resource.name: resource for resource in k3s.of_type("kubernetes:core/v1:Secret")}
    assert "postgresql" in secrets["secret-folio-folio-catalog-database"].depends_on
    assert "redis" in secrets["secret-folio-folio-cart-redis"].depends_on


def test_the_platform_is_composed_of_its_components(k8s: Evaluation) -> None:
    parts = {r.type.rsplit(":", 1)[-1] for r in k8s.resources if r.type.startswith("folio:platform:")}
    assert parts == {
        "Edge",
        "Mesh",
        "Storage",
        "Guard",
        "Data",
        "Identity",
        "Delivery",
        "Registry",
        "Observability",
    }
