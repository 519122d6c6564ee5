"""Every upstream chart the platform installs, pinned to one version.

Bump a version here on purpose (one commit per bump, after reading the chart's changelog); CI's
`pulumi-chart-pins` job pulls each pinned chart so a version that does not exist fails the PR.
`python -m folio_deploy.charts` prints the table as JSON for that job.
"""

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ChartRef:
    """Where a chart comes from: a classic Helm repository, or an OCI reference with no repo."""

    chart: str
    version: str
    repo: str | None = None


BITNAMI_OCI = "oci://registry-1.docker.io/bitnamicharts"

CHARTS: dict[str, ChartRef] = {
    "ingress-nginx": ChartRef("ingress-nginx", "4.11.3", "https://kubernetes.github.io/ingress-nginx"),
    "cert-manager": ChartRef("cert-manager", "v1.16.2", "https://charts.jetstack.io"),
    "external-dns": ChartRef("external-dns", "1.15.0", "https://kubernetes-sigs.github.io/external-dns/"),
    "istio-base": ChartRef("base", "1.24.2", "https://istio-release.storage.googleapis.com/charts"),
    "istiod": ChartRef("istiod", "1.24.2", "https://istio-release.storage.googleapis.com/charts"),
    "apisix": ChartRef("apisix", "2.10.0", "https://charts.apiseven.com"),
    "keycloak": ChartRef("keycloakx", "7.0.1", "https://codecentric.github.io/helm-charts"),
    "openldap": ChartRef("openldap-stack-ha", "4.3.2", "https://jp-gouin.github.io/helm-openldap/"),
    # Nacos publishes its chart only inside nacos-group/nacos-k8s (helm/), in no Helm repository:
    # `make pulumi-vendor` checks that folder out at this commit into pulumi/vendor/nacos.
    "nacos": ChartRef("vendor/nacos", "8b4b9b1a57b2450098d8facb35dff1872d1254fe"),
    "postgresql": ChartRef(f"{BITNAMI_OCI}/postgresql", "16.4.5"),
    "redis": ChartRef(f"{BITNAMI_OCI}/redis", "20.6.3"),
    "neo4j": ChartRef("neo4j", "5.26.0", "https://helm.neo4j.com/neo4j"),
    "qdrant": ChartRef("qdrant", "1.15.4", "https://qdrant.github.io/qdrant-helm"),
    "ollama": ChartRef("ollama", "1.50.0", "https://otwld.github.io/ollama-helm/"),
    "harbor": ChartRef("harbor", "1.16.2", "https://helm.goharbor.io"),
    "kube-prometheus-stack": ChartRef(
        "kube-prometheus-stack", "67.9.0", "https://prometheus-community.github.io/helm-charts"
    ),
    "loki": ChartRef("loki", "6.24.0", "https://grafana.github.io/helm-charts"),
    "opentelemetry-collector": ChartRef(
        "opentelemetry-collector", "0.113.0", "https://open-telemetry.github.io/opentelemetry-helm-charts"
    ),
    "tempo": ChartRef("tempo", "1.10.1", "https://grafana.github.io/helm-charts"),
    "deepflow": ChartRef("deepflow", "6.6.018", "https://deepflowio.github.io/deepflow"),
    "longhorn": ChartRef("longhorn", "1.7.2", "https://charts.longhorn.io"),
    # NeuVector's core chart: controller, enforcer, manager, CVE scanner and its CRDs (NvSecurityRule...).
    "neuvector": ChartRef("core", "2.8.5", "https://neuvector.github.io/neuvector-helm/"),
    "policy-controller": ChartRef("policy-controller", "0.9.0", "https://sigstore.github.io/helm-charts"),
}

NACOS_GIT = "https://github.com/nacos-group/nacos-k8s"


def main() -> None:
    """Print the pinned charts as JSON lines: {"release", "chart", "version", "repo"}."""
    for release, ref in CHARTS.items():
        print(json.dumps({"release": release, **asdict(ref)}))


if __name__ == "__main__":
    main()
