"""The deployed whole as one graph: every edge of both stacks and of `skaffold dev` holds, and the checker
sees each class of break (policy, mesh, secret, env, DNS, pipeline) when one is put back."""

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from folio_deploy.graph.check import Graph, check
from folio_deploy.graph.model import REPO, Charts, Finding, Model, from_evaluation, from_skaffold
from folio_deploy.graph.retries import not_idempotent
from folio_deploy.offline import Evaluation

Mutation = Callable[[Model], None]


@pytest.fixture(scope="session")
def charts() -> Iterator[Charts]:
    with Charts() as built:
        yield built


@pytest.fixture(scope="session")
def models(k3s: Evaluation, k8s: Evaluation, charts: Charts) -> dict[str, Model]:
    return {
        "k3s": from_evaluation(k3s, charts),
        "k8s": from_evaluation(k8s, charts),
        "dev": from_skaffold(charts),
    }


def _obj(model: Model, kind: str, namespace: str, name: str) -> dict[str, Any]:
    found = model.get(kind, namespace, name)
    assert found is not None, f"{kind} {namespace}/{name} is not in the model"
    return found


def _container(model: Model, name: str) -> dict[str, Any]:
    container: dict[str, Any] = _obj(model, "Deployment", "folio", name)["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def _new(model: Model, mutate: Mutation) -> list[Finding]:
    """What the mutation breaks: the findings the mutated model has and the original has not."""
    before = {str(f) for f in check(model)}
    mutated = copy.deepcopy(model)
    mutate(mutated)
    return [f for f in check(mutated) if str(f) not in before]


def test_the_model_holds_every_kind_of_object(models: dict[str, Model]) -> None:
    k8s = models["k8s"]
    kinds = {obj["kind"] for obj in k8s.objects}
    assert {"Deployment", "Service", "NetworkPolicy", "AuthorizationPolicy", "Secret", "Namespace"} <= kinds
    assert {"keycloak", "nacos", "apisix", "opentelemetry-collector", "folio"} <= k8s.releases.keys()


def test_edges_come_from_the_code_and_the_platform(models: dict[str, Model]) -> None:
    edges = {(e.source.key, e.why.split(" (")[0]) for e in Graph(models["k8s"]).edges()}
    # The callees come from each service's Settings (service_addresses), not from a second list.
    assert ("folio/orders", "FOLIO_ORDERS_SERVICE_ADDRESSES[payment]") in edges
    assert ("folio/assistant", "FOLIO_ASSISTANT_QDRANT_URL") in edges
    assert any(source == "apisix/apisix" and why.startswith("ApisixRoute") for source, why in edges)
    assert any(source == "keycloak/keycloak" and why == "realm LDAP federation" for source, why in edges)
    assert any(why.startswith("collector traces") for _, why in edges)
    assert any(why.startswith("ServiceMonitor") for _, why in edges)


@pytest.mark.parametrize("stack", ["k3s", "k8s", "dev"])
def test_every_edge_of_each_stack_and_of_skaffold_dev_holds(models: dict[str, Model], stack: str) -> None:
    findings = check(models[stack])
    assert not findings, "\n".join(sorted(map(str, findings)))


def test_skaffold_dev_brings_its_own_dependencies(models: dict[str, Model]) -> None:
    """On a bare cluster nothing but skaffold's releases exists: the identity provider, its directory and
    every Secret the services read come from helm/folio-dev, and no object needs a CRD."""
    dev = models["dev"]
    assert set(dev.releases) == {"folio", "folio-dev"}
    edges = {(e.source.key, e.host) for e in Graph(dev).edges()}
    assert ("folio/orders", "keycloak.folio.svc.cluster.local") in edges
    assert ("folio/keycloak", "openldap.folio.svc.cluster.local") in edges
    assert not [f for f in check(dev) if f.kind in ("install", "secret")]


def test_skaffold_dev_without_its_dependencies_is_caught(charts: Charts) -> None:
    """The same graph fails the dev profile as it was: the app chart alone on a bare cluster."""
    bare = from_skaffold(charts, profiles=())
    kinds = {f.kind for f in check(bare)}
    assert {"install", "secret", "dns"} <= kinds


def _drop_egress_to_payment(model: Model) -> None:
    policy = _obj(model, "NetworkPolicy", "folio", "orders-egress")
    policy["spec"]["egress"] = [
        rule
        for rule in policy["spec"]["egress"]
        if not any("payment" in str(peer) for peer in rule.get("to", []))
    ]


def _unmesh_orders(model: Model) -> None:
    for namespace in model.of_kind("Namespace"):
        if namespace["metadata"]["name"] == "folio":
            namespace["metadata"]["labels"].pop("istio-injection", None)
    labels = _obj(model, "Deployment", "folio", "orders")["spec"]["template"]["metadata"]["labels"]
    labels["sidecar.istio.io/inject"] = "false"


def _drop_catalog_database_secret(model: Model) -> None:
    model.objects.remove(_obj(model, "Secret", "folio", "folio-catalog-database"))


def _drop_orders_service_account(model: Model) -> None:
    model.objects.remove(_obj(model, "ServiceAccount", "folio", "orders"))


def _unset_session_secret(model: Model) -> None:
    container = _container(model, "storefront")
    container["env"] = [e for e in container["env"] if e["name"] != "FOLIO_STOREFRONT_SESSION_SECRET"]


def _rename_payment_service(model: Model) -> None:
    _obj(model, "Service", "folio", "payment")["metadata"]["name"] = "payments"


def _retry_charge(model: Model) -> None:
    """Charge's own route taken away: it falls to payment's route, which retries on UNAVAILABLE."""
    routes = _obj(model, "VirtualService", "folio", "payment")["spec"]["http"]
    routes[:] = [route for route in routes if not route.get("match")]


def _drop_retry_budget(model: Model) -> None:
    del _obj(model, "DestinationRule", "folio", "payment")["spec"]["trafficPolicy"]["connectionPool"]["http"][
        "maxRetries"
    ]


def _retry_in_the_client_too(model: Model) -> None:
    for container in _obj(model, "Deployment", "folio", "orders")["spec"]["template"]["spec"]["containers"]:
        container["env"] = [e for e in container.get("env", []) if e["name"] != "FOLIO_ORDERS_CLIENT_RETRIES"]


def _drop_traces_exporters(model: Model) -> None:
    pipelines = model.releases["opentelemetry-collector"].values["config"]["service"]["pipelines"]
    pipelines["traces"]["exporters"] = ["debug"]


@pytest.mark.parametrize(
    ("kind", "subject", "mutate"),
    [
        ("policy", "folio/orders -> payment", _drop_egress_to_payment),
        ("mesh", "folio/orders -> payment", _unmesh_orders),
        ("secret", "folio/catalog", _drop_catalog_database_secret),
        ("secret", "folio/orders", _drop_orders_service_account),
        ("env", "folio/storefront", _unset_session_secret),
        ("dns", "folio/orders -> payment", _rename_payment_service),
        ("pipeline", "collector traces", _drop_traces_exporters),
        ("retry", "folio/payment /folio.payment.v1.PaymentService/Charge", _retry_charge),
        ("retry", "folio/payment", _drop_retry_budget),
        ("retry", "folio/orders", _retry_in_the_client_too),
    ],
    ids=[
        "policy",
        "mesh",
        "secret",
        "service-account",
        "env",
        "dns",
        "pipeline",
        "retry",
        "retry-budget",
        "retry-two-layers",
    ],
)
def test_the_checker_sees_each_class_of_break(
    models: dict[str, Model], kind: str, subject: str, mutate: Mutation
) -> None:
    broken = _new(models["k8s"], mutate)
    assert any(f.kind == kind and f.subject.startswith(subject) for f in broken), "\n".join(map(str, broken))


def test_the_methods_nobody_may_retry_come_from_the_proto() -> None:
    methods = not_idempotent()
    assert methods["payment"] == ["/folio.payment.v1.PaymentService/Charge"]
    assert methods["cart"] == ["/folio.cart.v1.CartService/AddItem"]
    assert "orders" not in methods  # PlaceOrder is idempotent by its key


def test_a_route_without_a_retry_policy_gets_istios_default_retries(models: dict[str, Model]) -> None:
    def unset(model: Model) -> None:
        for route in _obj(model, "VirtualService", "folio", "payment")["spec"]["http"]:
            route.pop("retries")

    broken = _new(models["k8s"], unset)
    assert any("Charge" in f.subject and "2 times" in f.message for f in broken), "\n".join(map(str, broken))


def test_the_runbooks_logql_finds_a_traces_logs_as_the_collector_ships_them(models: dict[str, Model]) -> None:
    """The query in docs/observability.md selects labels the logs pipeline produces and filters on the
    trace id the pipeline lifts out of Folio's JSON lines."""
    doc = (REPO / "docs" / "observability.md").read_text()
    (query,) = re.findall(r"```logql\n(.+?)\n```", doc, re.S)
    selector = dict(re.findall(r'(\w+)="([^"]*)"', query.split("}")[0]))
    assert re.search(r'\| trace_id = "[0-9a-f]{32}"', query)
    for stack in ("k3s", "k8s"):
        values = models[stack].releases["opentelemetry-collector"].values
        logs = values["config"]["service"]["pipelines"]["logs"]
        assert values["presets"]["logsCollection"]["enabled"]  # pod logs, read on every node
        assert values["presets"]["kubernetesAttributes"]["enabled"]
        assert "k8sattributes" in logs["processors"]  # k8s.namespace.name -> Loki's k8s_namespace_name
        statements = " ".join(
            " ".join(block["statements"])
            for block in values["config"]["processors"]["transform/folio-logs"]["log_statements"]
        )
        assert 'set(trace_id.string, attributes["trace_id"])' in statements
        assert selector == {"k8s_namespace_name": models[stack].releases["folio"].namespace}
