"""Kill payment and orders with SIGKILL in the middle of a stream of checkouts, restart them, and
check that nothing is lost or duplicated: after recovery every kept charge has exactly one
confirmed order, no order is left pending, and the stock taken equals the copies sold."""

import io
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from folio_cli.launcher import Stack
from folio_cli.main import app as folio
from folio_cli.services import SERVICES
from folio_testing.data import checkout
from folio_testing.plugin import free_port

from .conftest import LOADED_MACHINE_DEADLINES

pytestmark = pytest.mark.e2e

# Fast recovery so the test need not wait the default 15 s.
FAST_RECOVERY = {
    "FOLIO_ORDERS_RECOVERY_AFTER_SECONDS": "2",
    "FOLIO_ORDERS_RECOVERY_INTERVAL_SECONDS": "0.5",
    "FOLIO_PAYMENT_PROCESSOR_TIMEOUT_SECONDS": "1",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(
        data_dir=tmp_path_factory.mktemp("crash") / "data",
        ports={s.name: free_port() for s in SERVICES},
        output=io.StringIO(),
        extra_env=LOADED_MACHINE_DEADLINES | FAST_RECOVERY,
    )
    running.up(timeout=60)
    yield running
    running.down()


def _shopper_loop(base_url: str, books: list[str], stop: threading.Event, outcomes: list[int]) -> None:
    """A shopper buying one copy at a time, retrying a checkout with the same key like a real client."""
    with httpx.Client(base_url=base_url, timeout=15) as client:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                client.post("/api/v1/cart/items", json={"book_id": books[n % len(books)]})
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            key = uuid.uuid4().hex
            for _ in range(5):
                try:
                    response = client.post(
                        "/api/v1/orders", json=checkout(), headers={"Idempotency-Key": key}
                    )
                except httpx.HTTPError:
                    time.sleep(0.3)
                    continue
                outcomes.append(response.status_code)
                if response.status_code != 503:
                    break
                time.sleep(0.3)


def _all_orders(stack: Stack) -> list[dict[str, object]]:
    import grpc

    from folio.orders.v1 import orders_pb2, orders_pb2_grpc
    from folio_cli import dev_identity
    from folio_platform.auth import bearer

    as_orders = bearer(
        dev_identity.service_token(stack.data_dir, stack.url("dev-oidc").rstrip("/"), "folio-orders")
    )
    with grpc.insecure_channel(f"127.0.0.1:{stack.ports['orders']}") as channel:
        stub = orders_pb2_grpc.OrdersServiceStub(channel)
        found, token = [], ""
        while True:
            page = stub.ListAllOrders(
                orders_pb2.ListAllOrdersRequest(page_size=100, page_token=token),
                timeout=10,
                metadata=as_orders,
            )
            found.extend(
                {"status": o.status, "lines": [(line.book_id, line.quantity) for line in o.lines]}
                for o in page.orders
            )
            token = page.next_page_token
            if not token:
                return found


def test_killing_payment_and_orders_mid_checkout_loses_and_duplicates_nothing(stack: Stack) -> None:
    base_url = stack.url("storefront")
    with httpx.Client(base_url=base_url) as client:
        catalog = client.get("/api/v1/books", params={"page_size": 100}).json()["items"]
        # Every well-stocked book on the page (some 25, 1,000 copies and more): checkouts flow for minutes
        # on a fast machine without selling out, which would turn every later checkout into a 409.
        books = [b["id"] for b in catalog if b["stock"] >= 40]
        before = {b: client.get(f"/api/v1/books/{b}").json()["stock"] for b in books}

    stop, outcomes = threading.Event(), []
    shoppers = [
        threading.Thread(target=_shopper_loop, args=(base_url, books, stop, outcomes), daemon=True)
        for _ in range(6)
    ]
    for shopper in shoppers:
        shopper.start()

    def checkouts_go_through() -> None:
        """Until two more checkouts are placed: each kill lands in a stream that is really flowing."""
        placed, deadline = outcomes.count(201), time.monotonic() + 60
        while outcomes.count(201) < placed + 2:
            assert time.monotonic() < deadline, f"no checkout went through in 60 s: {outcomes[-20:]}"
            time.sleep(0.1)

    try:
        for victim in ("orders", "payment", "orders", "payment"):
            checkouts_go_through()
            stack.stop(victim, kill=True)
            time.sleep(0.5)
            stack.start(victim)
            stack.wait_healthy([victim], timeout=60)
        checkouts_go_through()
    finally:
        stop.set()
        for shopper in shoppers:
            shopper.join(timeout=60)

    # Recovery ends every interrupted saga within a few of its intervals.
    deadline = time.monotonic() + 60
    orders = _all_orders(stack)
    while any(o["status"] == 1 for o in orders):  # 1 = PENDING
        assert time.monotonic() < deadline, "orders still pending after recovery"
        time.sleep(0.5)
        orders = _all_orders(stack)

    confirmed = sum(1 for o in orders if o["status"] == 2)
    print(
        f"\ncheckout answers {sorted(set(outcomes))}: {len(outcomes)} total, {outcomes.count(201)} placed, "
        f"{outcomes.count(503)} unavailable; orders {len(orders)} ({confirmed} confirmed)"
    )
    assert outcomes.count(201) > 5, f"too few checkouts went through: {outcomes}"
    ports = [f"--port={name}={port}" for name, port in stack.ports.items()]
    result = CliRunner().invoke(folio, ["reconcile", *ports, "--data-dir", str(stack.data_dir)])
    assert result.exit_code == 0, result.output
    sold = dict.fromkeys(books, 0)
    for order in orders:
        if order["status"] == 2:  # CONFIRMED
            for book_id, quantity in order["lines"]:  # type: ignore[attr-defined]
                sold[book_id] += quantity
    with httpx.Client(base_url=base_url) as client:
        after = {b: client.get(f"/api/v1/books/{b}").json()["stock"] for b in books}
    assert {b: before[b] - after[b] for b in books} == sold
