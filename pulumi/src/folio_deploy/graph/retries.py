"""Retries: never for a call that could act twice, and within a budget everywhere else.

The contract says which methods are safe to repeat: a method of a `proto/` service without an
`idempotency_level` option (payment's Charge) must be repeated by nobody. The services' gRPC clients
take their retry lists from that option; this check holds the mesh to it. Every VirtualService route
a non-idempotent method can take must retry nothing (`attempts: 0`; a route without a retry policy
gets Istio's default of two retries, and so does a meshed Service without a VirtualService), and
every destination whose routes retry has a retry budget (DestinationRule
`connectionPool.http.maxRetries`, which Istio leaves unlimited by default).

Retries happen in one layer: a meshed service leaves them to its sidecar (its Settings'
`client_retries` false), a service outside the mesh retries in its own gRPC client.
"""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from folio_deploy.graph import settings as code
from folio_deploy.graph.model import Finding, Model
from folio_deploy.graph.settings import REPO

if TYPE_CHECKING:
    from folio_deploy.graph.build import Graph

PROTOS = REPO / "proto" / "folio"
SAFE_TO_REPEAT = {"IDEMPOTENT", "NO_SIDE_EFFECTS"}
_COMMENT = re.compile(r"//[^\n]*")
_PACKAGE = re.compile(r"\bpackage\s+([\w.]+)\s*;")
_SERVICE = re.compile(r"\bservice\s+(\w+)\s*\{")
_RPC = re.compile(r"\brpc\s+(\w+)\s*\([^)]*\)\s*returns\s*\([^)]*\)\s*(?:;|\{([^}]*)\})")
_LEVEL = re.compile(r"option\s+idempotency_level\s*=\s*(\w+)\s*;")


def _rpcs(text: str) -> Iterator[tuple[str, str, bool]]:
    """(service, method, safe to repeat) for every rpc in one .proto file's text."""
    starts = [(m.start(), m.group(1)) for m in _SERVICE.finditer(text)]
    for index, (start, service) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
        for rpc in _RPC.finditer(text, start, end):
            level = _LEVEL.search(rpc.group(2) or "")
            yield service, rpc.group(1), bool(level and level.group(1) in SAFE_TO_REPEAT)


def not_idempotent(root: Path = PROTOS) -> dict[str, list[str]]:
    """Domain (`folio.<domain>.v1`: the chart's service name) -> gRPC paths of the methods the
    proto does not mark safe to repeat, e.g. {"payment": ["/folio.payment.v1.PaymentService/Charge"]}."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.proto")):
        text = _COMMENT.sub("", path.read_text())
        package = _PACKAGE.search(text)
        if package is None:
            continue
        domain = package.group(1).split(".")[1]
        for service, method, safe in _rpcs(text):
            if not safe:
                found.setdefault(domain, []).append(f"/{package.group(1)}.{service}/{method}")
    return found


def _may_match(route: dict[str, Any], path: str) -> bool:
    """Can a request for `path` take this http route? (Conditions other than the URI may hold.)"""
    matches = route.get("match")
    if not matches:
        return True
    for match in matches:
        uri = match.get("uri")
        if uri is None:
            return True
        if "exact" in uri and uri["exact"] == path:
            return True
        if "prefix" in uri and path.startswith(uri["prefix"]):
            return True
        if "regex" in uri and re.fullmatch(uri["regex"], path):
            return True
    return False


def _surely_matches(route: dict[str, Any], path: str) -> bool:
    """Does every request for `path` take this route (when no earlier route took it)?"""
    matches = route.get("match")
    return not matches or any(set(m) == {"uri"} and _may_match({"match": [m]}, path) for m in matches)


def _retries(route: dict[str, Any]) -> int:
    """How many times the route retries a request (Istio's default, 2, when it sets no policy)."""
    retries = route.get("retries")
    return 2 if retries is None else int(retries.get("attempts", 2))


def _virtual_services(model: Model, host: str) -> list[dict[str, Any]]:
    return [vs for vs in model.of_kind("VirtualService") if host in vs["spec"].get("hosts", [])]


def _host(service: dict[str, Any]) -> str:
    return f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"


def check_retries(model: Model, methods: dict[str, list[str]] | None = None) -> list[Finding]:
    """Every non-idempotent method's routes retry nothing; every retrying destination has a budget."""
    if not model.mesh or "folio" not in model.releases:
        return []
    methods = not_idempotent() if methods is None else methods
    namespace = model.releases["folio"].namespace
    findings: list[Finding] = []
    for domain, paths in sorted(methods.items()):
        service = model.get("Service", namespace, domain)
        if service is None:
            continue
        host = _host(service)
        routes = [route for vs in _virtual_services(model, host) for route in vs["spec"].get("http", [])]
        for path in paths:
            subject = f"{namespace}/{domain} {path}"
            taken = []
            for route in routes:
                if _may_match(route, path):
                    taken.append(route)
                    if _surely_matches(route, path):
                        break
            if not routes:
                findings.append(
                    Finding("retry", subject, f"no VirtualService for {host}: Istio retries every call twice")
                )
            for route in taken:
                if _retries(route):
                    findings.append(
                        Finding(
                            "retry",
                            subject,
                            f"route {route.get('name', '?')} retries it {_retries(route)} times "
                            f"({(route.get('retries') or {}).get('retryOn', 'Istio default')}), but the proto "
                            "does not mark it safe to repeat",
                        )
                    )
    for vs in model.of_kind("VirtualService"):
        if vs["metadata"].get("namespace") != namespace:
            continue
        if not any(_retries(route) for route in vs["spec"].get("http", [])):
            continue
        for host in vs["spec"].get("hosts", []):
            budgets = [
                rule["spec"]
                .get("trafficPolicy", {})
                .get("connectionPool", {})
                .get("http", {})
                .get("maxRetries")
                for rule in model.of_kind("DestinationRule")
                if rule["spec"].get("host") == host
            ]
            if not any(isinstance(budget, int) and budget > 0 for budget in budgets):
                findings.append(
                    Finding(
                        "retry",
                        f"{namespace}/{vs['metadata']['name']}",
                        f"routes to {host} retry without a retry budget (DestinationRule "
                        "connectionPool.http.maxRetries)",
                    )
                )
    return findings


def check_one_layer(graph: "Graph") -> list[Finding]:
    """A service that calls others retries in exactly one layer: the mesh's or its own client's."""
    findings: list[Finding] = []
    for pod, service in graph.app_pods():
        callees = code.callees(service)
        if not callees:
            continue
        variable = code.service_settings(service).variable("client_retries")
        given = pod.env().get(variable)
        raw = graph.value(pod, given) if given else None
        client_retries = raw is None or raw.strip().lower() not in {"false", "0", "no", "off"}
        if pod.meshed and client_retries:
            findings.append(
                Finding(
                    "retry",
                    pod.key,
                    f"its sidecar retries calls to {', '.join(callees)} and so does its gRPC client "
                    f"({variable} is not false): two layers multiply the attempts",
                )
            )
        elif not pod.meshed and not client_retries:
            findings.append(
                Finding(
                    "retry",
                    pod.key,
                    f"{variable} is false but no sidecar retries for it: calls to "
                    f"{', '.join(callees)} are never retried",
                )
            )
    return findings
