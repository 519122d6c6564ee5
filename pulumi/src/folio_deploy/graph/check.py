"""Every call edge of a deployment, derived from the code and the platform, and what breaks each one.

Edges come from what the pods are given, read with the services' own Settings (graph.settings): each
address a service is configured with (service addresses, database/redis/graph/vector/LLM URLs, the
identity provider, Nacos, the OTLP endpoint), the gateway's routes, the Ingress, and the platform's own
wiring (Keycloak's directory and database, the Collector's exporters, Prometheus' ServiceMonitors,
Grafana's data sources). For each edge the checker follows the name to a Service and its pods, then asks
the NetworkPolicies of both ends, Istio (mTLS mode, AuthorizationPolicies, which address is dialled) and
checks the Secrets, settings and telemetry pipelines the pods depend on, and the mesh's retries
(graph.retries: nothing that could act twice is retried, and retries have a budget).
"""

from folio_deploy.graph import deployment, guards
from folio_deploy.graph.build import Graph
from folio_deploy.graph.model import Finding, Model
from folio_deploy.graph.pods import Edge, Pod
from folio_deploy.graph.policy import check_edge
from folio_deploy.graph.retries import check_one_layer, check_retries

__all__ = ["Edge", "Graph", "Pod", "check", "check_graph", "render"]


def check_graph(graph: Graph) -> list[Finding]:
    """Every finding of a graph: each edge, then the deployment as a whole."""
    findings: list[Finding] = []
    for edge in graph.edges():
        findings += check_edge(graph, edge)
    findings += deployment.check_principals(graph) + deployment.check_references(graph)
    findings += deployment.check_settings(graph) + deployment.check_telemetry(graph)
    findings += deployment.check_installed(graph) + deployment.check_identity(graph)
    findings += deployment.check_fences(graph) + deployment.check_registry(graph)
    findings += deployment.check_gateway(graph) + deployment.check_qdrant(graph)
    findings += check_retries(graph.model) + check_one_layer(graph)
    return findings + guards.check(graph)


def check(model: Model) -> list[Finding]:
    """Every finding of a deployment's graph (empty: every edge holds)."""
    return check_graph(Graph(model))


def render(findings: list[Finding]) -> str:
    return "\n".join(sorted(str(f) for f in findings)) or "every edge holds"
