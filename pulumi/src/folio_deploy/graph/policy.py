"""What breaks one edge: DNS (a Service, its port, its pods), the NetworkPolicies of both ends, and the mesh
(mTLS mode, AuthorizationPolicies, which address is dialled)."""

from typing import TYPE_CHECKING, Any

from folio_deploy.graph.model import Finding
from folio_deploy.graph.pods import CLUSTER_DOMAIN, Edge, Pod, selects

if TYPE_CHECKING:
    from folio_deploy.graph.build import Graph


def check_edge(graph: "Graph", edge: Edge) -> list[Finding]:
    subject = str(edge)
    service, namespace = graph.service(edge.host, edge.source.namespace)
    if service is None:
        ingress = graph.ingress_for(edge.host)
        if ingress is not None:
            return _check_external(graph, edge, subject)
        return [Finding("dns", subject, f"{edge.host} is no Service of this deployment")]
    ports = service["spec"].get("ports") or []
    port = next((p for p in ports if int(p["port"]) == edge.port), None)
    if port is None:
        return [
            Finding(
                "dns",
                subject,
                f"Service {namespace}/{service['metadata']['name']} has no port {edge.port} (it has {[p['port'] for p in ports]})",
            )
        ]
    if service["spec"].get("type") == "ExternalName":
        return check_edge(
            graph,
            Edge(
                edge.source,
                service["spec"]["externalName"],
                edge.port,
                edge.why,
                edge.dial,
                edge.authority,
                edge.signal,
            ),
        )
    targets = graph.backends(service)
    if not targets:
        return [Finding("dns", subject, f"Service {namespace}/{service['metadata']['name']} selects no pod")]
    findings: list[Finding] = []
    for target in targets:
        target_port = target.container_port(port.get("targetPort", port["port"]))
        if target_port is None:
            findings.append(
                Finding("dns", subject, f"{target.key} has no container port {port.get('targetPort')}")
            )
            continue
        findings += _check_policies(graph, edge, target, target_port, subject)
        findings += _check_mesh(graph, edge, target, target_port, service, subject)
    return findings


def _check_external(graph: "Graph", edge: Edge, subject: str) -> list[Finding]:
    """A public host the stack serves through its Ingress: the pod needs egress to the internet."""
    if _egress_policies(graph, edge.source) and not any(
        _rule_allows(graph, rule, None, None, edge.port, external=True)
        for policy in _egress_policies(graph, edge.source)
        for rule in policy["spec"].get("egress") or []
    ):
        return [
            Finding(
                "policy",
                subject,
                f"egress of {edge.source.key} allows no connection to the public address of {edge.host}:{edge.port}",
            )
        ]
    return []


def policies(graph: "Graph", pod: Pod, policy_type: str) -> list[dict[str, Any]]:
    return [
        policy
        for policy in graph.model.of_kind("NetworkPolicy")
        if policy["metadata"]["namespace"] == pod.namespace
        and policy_type in policy["spec"].get("policyTypes", ["Ingress"])
        and selects(policy["spec"].get("podSelector"), pod.labels)
    ]


def _egress_policies(graph: "Graph", pod: Pod) -> list[dict[str, Any]]:
    return policies(graph, pod, "Egress")


def _rule_allows(
    graph: "Graph",
    rule: dict[str, Any],
    peer: Pod | None,
    peer_namespace: str | None,
    port: int,
    external: bool = False,
) -> bool:
    ports = rule.get("ports")
    if ports and not any(p.get("port") in (port, None) for p in ports):
        return False
    peers = rule.get("to", rule.get("from"))
    if peers is None:
        return True
    for candidate in peers:
        if "ipBlock" in candidate:
            if external:
                return True
            continue
        if external or peer is None:
            continue
        if "namespaceSelector" in candidate:
            if not selects(candidate["namespaceSelector"], graph.model.namespace_labels(peer.namespace)):
                continue
        elif peer.namespace != peer_namespace:
            continue
        if selects(candidate.get("podSelector"), peer.labels):
            return True
    return False


def _check_policies(graph: "Graph", edge: Edge, target: Pod, port: int, subject: str) -> list[Finding]:
    findings = []
    egress = policies(graph, edge.source, "Egress")
    if egress and not any(
        _rule_allows(graph, rule, target, edge.source.namespace, port)
        for policy in egress
        for rule in policy["spec"].get("egress") or []
    ):
        findings.append(
            Finding("policy", subject, f"egress of {edge.source.key} does not allow {target.key}:{port}")
        )
    ingress = policies(graph, target, "Ingress")
    if ingress and not any(
        _rule_allows(graph, rule, edge.source, target.namespace, port)
        for policy in ingress
        for rule in policy["spec"].get("ingress") or []
    ):
        findings.append(
            Finding("policy", subject, f"ingress of {target.key} does not allow {edge.source.key} on {port}")
        )
    return findings


def _selected(graph: "Graph", kind: str, target: Pod) -> list[dict[str, Any]]:
    return [
        obj
        for obj in graph.model.of_kind(kind)
        if obj["metadata"]["namespace"] in (target.namespace, "istio-system")
        and selects((obj["spec"].get("selector") or {}), target.labels)
    ]


def _check_mesh(
    graph: "Graph", edge: Edge, target: Pod, port: int, service: dict[str, Any], subject: str
) -> list[Finding]:
    if not target.meshed:
        return []
    findings = []
    excluded = str(target.annotations.get("traffic.sidecar.istio.io/excludeInboundPorts", "")).split(",")
    if str(port) in excluded:
        return []
    strict = any(
        p["spec"].get("mtls", {}).get("mode") == "STRICT"
        for p in _selected(graph, "PeerAuthentication", target)
    )
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.{CLUSTER_DOMAIN}"
    routed = [vs for vs in graph.model.of_kind("VirtualService") if host in vs["spec"].get("hosts", [])]
    if strict and not edge.source.meshed:
        findings.append(
            Finding(
                "mesh",
                subject,
                f"{target.key} requires mTLS (STRICT) but {edge.source.key} has no sidecar",
            )
        )
    elif strict and edge.dial == "pod" and routed:
        findings.append(
            Finding(
                "mesh",
                subject,
                f"{edge.source.key} dials {target.key}'s pod address: Istio neither applies {host}'s routes (timeouts, retries) nor keeps mTLS",
            )
        )
    elif routed and edge.authority and edge.authority not in (host, edge.host):
        findings.append(
            Finding(
                "mesh",
                subject,
                f"requests carry Host {edge.authority}: the sidecar matches no route of {host} (timeouts, retries, faults do not apply)",
            )
        )
    policies = [
        p
        for p in _selected(graph, "AuthorizationPolicy", target)
        if p["spec"].get("action", "ALLOW") == "ALLOW"
    ]
    if policies:
        allowed = edge.source.meshed and any(
            graph.principal(edge.source) in source.get("source", {}).get("principals", [])
            and all(
                str(port) in (op.get("operation") or {}).get("ports", [str(port)])
                for op in rule.get("to") or [{}]
            )
            for policy in policies
            for rule in policy["spec"].get("rules") or []
            for source in rule.get("from") or []
        )
        if not allowed:
            findings.append(
                Finding(
                    "mesh",
                    subject,
                    f"no AuthorizationPolicy of {target.key} allows {graph.principal(edge.source) if edge.source.meshed else 'a caller without mesh identity'} on port {port}",
                )
            )
    return findings
