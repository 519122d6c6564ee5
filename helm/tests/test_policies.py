"""NetworkPolicies and Istio AuthorizationPolicies allow exactly the call graph, and the call graph is
the one the code makes."""

import ast
import itertools
from pathlib import Path
from typing import Any

import pytest
from helm_python.errors import HelmRenderError

from folio_testing.helm import ChartCopy, load_values, merge_values

from .conftest import PROFILES, REPO

# Who calls whom. The chart's services.*.calls must say the same.
CALLS = {
    "catalog": set(),
    "cart": set(),
    "payment": set(),
    "orders": {"catalog", "cart", "payment"},
    "storefront": {"catalog", "cart", "orders", "assistant"},
    "assistant": {"catalog", "orders"},
}
EDGE_PRINCIPAL = "cluster.local/ns/apisix/sa/apisix"
Objects = list[dict[str, Any]]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist) of a LabelSelector."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if not {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]:
            return False
    return True


def _pods(objects: Objects) -> dict[str, tuple[dict[str, str], int]]:
    """service -> (pod labels, container port)."""
    return {
        o["metadata"]["name"]: (
            o["spec"]["template"]["metadata"]["labels"],
            o["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        )
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet")
    }


def _peer_matches(peer: dict[str, Any], labels: dict[str, str]) -> bool:
    """A peer in the release namespace: a podSelector alone (namespaceSelector means another namespace)."""
    return "namespaceSelector" not in peer and "ipBlock" not in peer and _selects(peer["podSelector"], labels)


def _port_matches(rule: dict[str, Any], port: int) -> bool:
    return "ports" not in rule or any(p.get("port") == port for p in rule["ports"])


def _allowed(policies: Objects, direction: str, own: dict[str, str], peer: dict[str, str], port: int) -> bool:
    """Kubernetes semantics: isolated in a direction once any policy of that type selects the pod;
    then allowed only if some selecting policy's rule matches the peer and port."""
    selecting = [
        p
        for p in policies
        if _selects(p["spec"]["podSelector"], own) and direction in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True
    key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return any(
        any(_peer_matches(p, peer) for p in rule.get(peers, [])) and _port_matches(rule, port)
        for policy in selecting
        for rule in policy["spec"].get(key) or []
    )


def _network_graph(objects: Objects) -> dict[str, set[str]]:
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    pods = _pods(objects)
    graph: dict[str, set[str]] = {name: set() for name in pods}
    for (src, (src_labels, _)), (dst, (dst_labels, dst_port)) in itertools.permutations(pods.items(), 2):
        if _allowed(policies, "Egress", src_labels, dst_labels, dst_port) and _allowed(
            policies, "Ingress", dst_labels, src_labels, dst_port
        ):
            graph[src].add(dst)
    return graph


@pytest.mark.parametrize("profile", PROFILES)
def test_chart_values_declare_the_coordinated_call_graph(profile: str) -> None:
    services = load_values(PROFILES[profile])["services"]
    assert {name: set(svc["calls"]) for name, svc in services.items()} == CALLS


@pytest.mark.parametrize("profile", PROFILES)
def test_network_policies_allow_exactly_the_calls(rendered: dict[str, Objects], profile: str) -> None:
    assert _network_graph(rendered[profile]) == CALLS


def test_the_evaluator_sees_a_missing_allow_rule(rendered: dict[str, Objects]) -> None:
    """Guard for the test itself: dropping orders' egress must cut orders off from payment."""
    objects = [o for o in rendered["default"] if o["metadata"]["name"] != "orders-egress"]
    assert _network_graph(objects)["orders"] == set()


@pytest.mark.parametrize("profile", PROFILES)
def test_every_pod_is_default_denied_both_ways(rendered: dict[str, Objects], profile: str) -> None:
    objects = rendered[profile]
    (deny,) = [o for o in objects if o["metadata"]["name"] == "folio-default-deny"]
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"]
    for name, (labels, _) in _pods(objects).items():
        assert _selects(deny["spec"]["podSelector"], labels), name


def test_only_the_gateway_namespace_reaches_the_storefront(rendered: dict[str, Objects]) -> None:
    outside = [
        peer
        for o in rendered["default"]
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"].endswith("-ingress")
        for rule in o["spec"]["ingress"]
        for peer in rule["from"]
        if "namespaceSelector" in peer
    ]
    assert outside == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apisix"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "apisix"}},
        }
    ]


@pytest.mark.parametrize("profile", PROFILES)
def test_authorization_policies_admit_exactly_the_callers(rendered: dict[str, Objects], profile: str) -> None:
    objects = rendered[profile]
    accounts = {o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"}
    policies = {
        o["metadata"]["name"]: o
        for o in objects
        if o["kind"] == "AuthorizationPolicy" and o["metadata"]["name"] in accounts
    }
    callers_of = {name: {c for c, callees in CALLS.items() if name in callees} for name in CALLS}
    pods = _pods(objects)
    for name, policy in policies.items():
        assert policy["spec"]["action"] == "ALLOW"
        assert _selects(policy["spec"]["selector"], pods[name][0])
        principals = {
            p for rule in policy["spec"]["rules"] for s in rule["from"] for p in s["source"]["principals"]
        }
        expected = {f"cluster.local/ns/folio/sa/{caller}" for caller in callers_of[name]}
        if name == "storefront":
            expected.add(EDGE_PRINCIPAL)
        assert principals == expected, name
        for rule in policy["spec"]["rules"]:
            assert rule["to"] == [{"operation": {"ports": [str(pods[name][1])]}}]
    assert sorted(policies) == sorted(CALLS)


@pytest.mark.parametrize("profile", PROFILES)
def test_mtls_is_strict_for_every_workload(rendered: dict[str, Objects], profile: str) -> None:
    objects = rendered[profile]
    (peer,) = [o for o in objects if o["kind"] == "PeerAuthentication"]
    assert peer["spec"]["mtls"]["mode"] == "STRICT"
    for name, (labels, _) in _pods(objects).items():
        assert _selects(peer["spec"]["selector"], labels), name
    rules = [o for o in objects if o["kind"] == "DestinationRule"]
    assert len(rules) == len(CALLS)
    for rule in rules:
        policy = rule["spec"]["trafficPolicy"]
        assert policy["tls"]["mode"] == "ISTIO_MUTUAL"
        assert policy["outlierDetection"]["consecutive5xxErrors"] > 0
        assert policy["connectionPool"]["tcp"]["maxConnections"] > 0


def _routes(objects: Objects) -> dict[str, list[dict[str, Any]]]:
    return {o["metadata"]["name"]: o["spec"]["http"] for o in objects if o["kind"] == "VirtualService"}


def test_checkout_calls_are_never_retried_after_a_timeout(rendered: dict[str, Objects]) -> None:
    """A charge or an order placed twice is worse than a failed one: retry only what never arrived."""
    routes = _routes(rendered["default"])
    assert sorted(routes) == sorted(CALLS)
    for name in ("payment", "orders"):
        retry_on = set(routes[name][-1]["retries"]["retryOn"].split(","))
        assert retry_on <= {"unavailable", "connect-failure", "refused-stream"}, name
    for http in routes.values():
        assert not [route for route in http if "fault" in route]


def test_charge_has_a_route_of_its_own_without_retries(rendered: dict[str, Objects]) -> None:
    """Istio retries a route without a retry policy by default: Charge's route says attempts 0, and it
    comes before the route every other payment method takes."""
    first, rest = _routes(rendered["default"])["payment"][0], _routes(rendered["default"])["payment"][1:]
    assert first["match"] == [{"uri": {"exact": "/folio.payment.v1.PaymentService/Charge"}}]
    assert first["retries"] == {"attempts": 0}
    assert [route.get("match") for route in rest] == [None]


@pytest.mark.parametrize("profile", PROFILES)
def test_every_destination_has_a_retry_budget(rendered: dict[str, Objects], profile: str) -> None:
    rules = [o for o in rendered[profile] if o["kind"] == "DestinationRule"]
    assert rules
    for rule in rules:
        assert 0 < rule["spec"]["trafficPolicy"]["connectionPool"]["http"]["maxRetries"] <= 20


@pytest.mark.parametrize("drill", sorted((REPO / "helm/folio/drills").glob("*.yaml")), ids=lambda p: p.stem)
def test_drill_overlays_inject_faults_into_one_service(chart: ChartCopy, drill: Path) -> None:
    staging = {"global": {"environment": "staging"}}
    objects = chart.render(merge_values(load_values([*PROFILES["k8s"], drill]), staging))
    faulty = {
        o["metadata"]["name"]: o["spec"]["http"][-1]["fault"]
        for o in objects
        if o["kind"] == "VirtualService" and "fault" in o["spec"]["http"][-1]
    }
    # A drill reaches every route of its service, the routes without retries too.
    for o in objects:
        if o["kind"] == "VirtualService" and o["metadata"]["name"] in faulty:
            assert all(route.get("fault") == faulty[o["metadata"]["name"]] for route in o["spec"]["http"])
    assert len(faulty) == 1
    ((name, fault),) = faulty.items()
    assert name in CALLS
    assert fault.keys() <= {"delay", "abort"}
    assert fault


def test_drill_overlays_are_refused_in_production(chart: ChartCopy) -> None:
    with pytest.raises(HelmRenderError, match=r"refused in global\.environment production"):
        chart.render(load_values([*PROFILES["k8s"], REPO / "helm/folio/drills/payment-slow.yaml"]))


def _grpc_calls_in_code(service: str) -> set[str]:
    """Other services whose generated gRPC stubs this service's source imports."""
    called = set()
    for source in (REPO / "services" / service / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("folio.")
                and any(alias.name.endswith("_pb2_grpc") for alias in node.names)
            ):
                called.add(node.module.split(".")[1])
    return called - {service}


@pytest.mark.parametrize("service", sorted(CALLS))
def test_the_code_makes_exactly_the_calls_the_policies_allow(service: str) -> None:
    """Drift: a call the code makes but the policies block breaks in the cluster only; a call the
    policies allow but the code never makes is an open door."""
    code = _grpc_calls_in_code(service)
    assert code <= CALLS[service], f"{service} calls {code - CALLS[service]} without an allow rule"
    assert CALLS[service] <= code, f"{service} is allowed to call {CALLS[service] - code} but never does"
