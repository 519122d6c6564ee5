"""Observability end to end: one stack started by the launcher with telemetry on, exporting over
OTLP/gRPC to a real receiver and serving Prometheus metrics; a real Prometheus (Debian's package)
scrapes it with the same configuration and rules `folio up --observe` uses."""

import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from folio_cli.launcher import ServiceFailed, Stack
from folio_cli.observe import ALERTMANAGER_CONFIG, Observer
from folio_cli.services import SERVICES
from folio_testing import data
from folio_testing.data import CARD, DECLINED_CARD
from folio_testing.model_server import FakeModelServer
from folio_testing.otlp import OtlpReceiver, ReceivedSpan
from folio_testing.plugin import free_port

pytestmark = pytest.mark.e2e

SERVER, CLIENT = 2, 3  # OTLP span kinds
BACKENDS = ("catalog", "cart", "orders", "payment")


@dataclass
class ObservedShop:
    stack: Stack
    receiver: OtlpReceiver
    output: io.StringIO


@pytest.fixture(scope="module")
def observed(
    otlp_receiver: OtlpReceiver,
    tmp_path_factory: pytest.TempPathFactory,
    install_assistant_index: Callable[[Path], Path],
) -> Iterator[ObservedShop]:
    """The shop with traces and metrics exported to the test's OTLP receiver, quickly, and a
    Prometheus metrics port per service; the assistant on the seed catalog's index."""
    output = io.StringIO()
    stack = Stack(
        data_dir=install_assistant_index(tmp_path_factory.mktemp("observed") / "data"),
        ports={s.name: free_port() for s in SERVICES},
        output=output,
        extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        },
        metrics_ports={s.name: free_port() for s in SERVICES if s.metrics_port is not None},
    )
    try:
        stack.up(timeout=60)
    except ServiceFailed as error:
        pytest.fail(f"folio stack did not come up: {error}\n{output.getvalue()}")
    try:
        yield ObservedShop(stack, otlp_receiver, output)
    finally:
        stack.down()


def checkout(client: httpx.Client, card: dict[str, object] = CARD) -> httpx.Response:
    return client.post(
        "/api/v1/orders", json=data.checkout(card), headers={"Idempotency-Key": uuid.uuid4().hex}
    )


def fill_cart(client: httpx.Client, receiver: OtlpReceiver) -> None:
    """One book in the cart; returns once that request's spans have all been exported."""
    page = client.get("/api/v1/books", params={"page_size": 50}).json()
    book = next(b for b in page["items"] if b["stock"] >= 1)
    added = client.post("/api/v1/cart/items", json={"book_id": book["id"], "quantity": 1})
    assert added.status_code == 200, added.text
    receiver.wait_for(
        lambda spans: (
            {(s.service, s.name) for s in spans if s.kind == SERVER}
            >= {("storefront", "POST /api/v1/cart/items"), ("cart", "/folio.cart.v1.CartService/AddItem")}
        )
    )


def _is_request(span: ReceivedSpan) -> bool:
    """A span that only a request makes: an inbound HTTP request or RPC (not a background loop's SQL)."""
    return span.kind == SERVER


def test_one_checkout_is_one_trace_across_every_process(observed: ObservedShop) -> None:
    with httpx.Client(base_url=observed.stack.url("storefront"), timeout=30) as shopper:
        fill_cart(shopper, observed.receiver)
        observed.receiver.clear()

        placed = checkout(shopper)
        assert placed.status_code == 201, placed.text

    def complete(spans: list[ReceivedSpan]) -> bool:
        roots = [s for s in spans if s.kind == SERVER and s.name == "POST /api/v1/orders"]
        if not roots:
            return False
        in_trace = [s for s in spans if s.trace_id == roots[0].trace_id]
        # Every service's server span and catalog's and payment's SQL have arrived.
        return {s.service for s in in_trace if s.kind == SERVER} >= set(BACKENDS) and {
            s.service for s in in_trace if "db.system" in s.attributes or "db.system.name" in s.attributes
        } >= {"catalog", "orders", "payment"}

    spans = observed.receiver.wait_for(complete, timeout=15)
    request_traces = {s.trace_id for s in spans if _is_request(s)}
    assert len(request_traces) == 1, f"one request made {len(request_traces)} traces"
    (trace_id,) = request_traces
    trace = {s.span_id: s for s in spans if s.trace_id == trace_id}

    roots = [s for s in trace.values() if not s.parent_span_id]
    assert [(r.service, r.kind) for r in roots] == [("storefront", SERVER)]
    assert "/api/v1/orders" in roots[0].name
    for span in trace.values():
        if span.parent_span_id:
            assert span.parent_span_id in trace, f"{span.service} {span.name}: parent not in the trace"

    # Across processes: every RPC a service serves hangs under the client span of its caller.
    callers = {"orders": "storefront", "cart": "orders", "catalog": "orders", "payment": "orders"}
    for service, caller in callers.items():
        served = [s for s in trace.values() if s.service == service and s.kind == SERVER]
        assert served, f"no server span from {service}"
        for span in served:
            parent = trace[span.parent_span_id]
            assert (parent.service, parent.kind) == (caller, CLIENT), (span.name, parent)
            assert parent.name == span.name  # both are the RPC's full method name

    # Down to the database: SQL spans sit under the RPC their service served.
    def server_ancestor(span: ReceivedSpan) -> ReceivedSpan | None:
        while span.parent_span_id:
            span = trace[span.parent_span_id]
            if span.kind == SERVER:
                return span
        return None

    # Background work makes no trace of its own while idle (orders' recovery poll is untraced).
    assert not [s for s in spans if s.service == "orders" and not s.parent_span_id]

    sql = [s for s in trace.values() if "db.system" in s.attributes or "db.system.name" in s.attributes]
    for span in sql:
        ancestor = server_ancestor(span)
        assert ancestor is not None, span
        assert ancestor.service == span.service, span


def test_business_and_rpc_metrics_are_exported_over_otlp(observed: ObservedShop) -> None:
    with httpx.Client(base_url=observed.stack.url("storefront"), timeout=30) as shopper:
        fill_cart(shopper, observed.receiver)
        assert checkout(shopper, DECLINED_CARD).status_code == 409

    def arrived() -> bool:
        names = observed.receiver.metric_names
        return (
            {"folio.checkout.failures", "rpc.server.duration"} <= names("orders")
            and "folio.payment.charges" in names("payment")
            and "rpc.server.duration" in names("catalog")
            and any("http.server" in name for name in names("storefront"))
        )

    # Each service exports every second; on a loaded machine one export can wait for a retry.
    deadline = time.monotonic() + 30
    while not arrived() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert arrived(), {
        s: observed.receiver.metric_names(s) for s in ("orders", "payment", "catalog", "storefront")
    }


def test_logs_carry_the_trace_id(observed: ObservedShop) -> None:
    with httpx.Client(base_url=observed.stack.url("storefront"), timeout=30) as shopper:
        fill_cart(shopper, observed.receiver)
        observed.receiver.clear()
        assert checkout(shopper, DECLINED_CARD).status_code == 409
    spans = observed.receiver.wait_for(
        lambda spans: any(s.service == "orders" and s.kind == SERVER for s in spans)
    )
    trace_id = next(s.trace_id for s in spans if s.service == "orders" and s.kind == SERVER)
    # orders logs "checkout failed" inside the request; the launcher prints the trace id's first 8.
    assert any(
        "checkout failed" in line and f"trace={trace_id[:8]}" in line
        for line in observed.output.getvalue().splitlines()
    )


DASHBOARDS = sorted((ALERTMANAGER_CONFIG.parents[1] / "dashboards").glob("*.json"))


@pytest.fixture(scope="module")
def prometheus(observed: ObservedShop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observer]:
    """Debian's Prometheus and Alertmanager as `folio up --observe` starts them, scraping every second."""
    observer = Observer(
        work_dir=tmp_path_factory.mktemp("observe"),
        metrics_ports=observed.stack.metrics_ports,
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        scrape_interval="1s",
    )
    observer.start()
    try:
        yield observer
    finally:
        observer.stop()


@pytest.fixture(scope="module")
def model(observed: ObservedShop) -> Iterator[FakeModelServer]:
    """A model server for the module's stack, set in its config center (the assistant picks it up live)."""
    with FakeModelServer(reply="Bram Stoker wrote Dracula [dracula].") as server:
        (observed.stack.config_dir / "assistant.yaml").write_text(f"llm:\n  base_url: {server.url}\n")
        time.sleep(1.5)  # the file source is polled every 0.5 s
        yield server


def promql(prometheus: Observer, expr: str) -> list[dict[str, object]]:
    reply = httpx.get(f"{prometheus.prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
    assert reply.status_code == 200, f"{expr}: {reply.text}"
    result: list[dict[str, object]] = reply.json()["data"]["result"]
    return result


def eventually(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


@pytest.fixture(scope="module")
def traffic(observed: ObservedShop, prometheus: Observer, model: FakeModelServer) -> None:
    """Shoppers browse, add to carts, buy and get declined, and ask the assistant (which answers through
    `model`, so its gen_ai token and latency panels have data too) while Prometheus watches."""
    jobs = set(observed.stack.metrics_ports)
    assert eventually(
        lambda: {str(r["metric"]["job"]) for r in promql(prometheus, "up == 1")} >= jobs,
        timeout=20,  # type: ignore[index]
    ), promql(prometheus, "up")
    for card in (CARD, DECLINED_CARD, CARD):
        with httpx.Client(base_url=observed.stack.url("storefront"), timeout=30) as shopper:
            fill_cart(shopper, observed.receiver)
            checkout(shopper, card)
            shopper.get("/")
            shopper.get("/api/v1/assistant/search", params={"q": "a sea voyage that goes wrong"})
            asked = shopper.get("/api/v1/assistant/ask", params={"q": "Who wrote Dracula?"})
            assert asked.status_code == 200
    assert model.requests, "the assistant never called the model"
    time.sleep(2)  # two more scrapes, so every rate() has its increase


def test_prometheus_loads_the_slo_rules_and_finds_alertmanager(prometheus: Observer) -> None:
    rules = httpx.get(f"{prometheus.prometheus_url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    alerts = {r["name"] for g in rules for r in g["rules"] if r["type"] == "alerting"}
    assert len(alerts) == 8
    assert {"StorefrontAvailabilityFastBurn", "CheckoutLatencySlowBurn"} <= alerts
    assert eventually(
        lambda: bool(
            httpx.get(f"{prometheus.prometheus_url}/api/v1/alertmanagers", timeout=10).json()["data"][
                "activeAlertmanagers"
            ]
        ),
        timeout=15,
    )


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=[d.stem for d in DASHBOARDS])
def test_every_dashboard_panel_has_data(dashboard: Path, prometheus: Observer, traffic: None) -> None:
    panels = json.loads(dashboard.read_text())["panels"]
    empty = []
    for panel in panels:
        for target in panel["targets"]:
            # What Grafana would send: its variables set to "all" and a rate window.
            expr = target["expr"].replace("$__rate_interval", "1m").replace("$service", ".+")
            # SLO recording rules are evaluated every 30 s: the first results may take that long.
            if not eventually(lambda expr=expr: bool(promql(prometheus, expr)), timeout=45):
                empty.append(f"{panel['title']}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
