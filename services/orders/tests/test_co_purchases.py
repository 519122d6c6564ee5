"""Books bought together, as orders publishes them: aggregated pairs only, each backed by at least
five distinct confirmed orders, to the assistant's account and admins; never the orders themselves."""

import grpc
import pytest

from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio_orders.servicer import CO_PURCHASE_MIN_ORDERS
from folio_orders.store import CoPurchase, LineRecord, SqlOrderStore, Step
from folio_testing.data import EMAIL

from .conftest import World

ADDRESS = {
    "name": "Ada Reader",
    "line1": "1 Quay St",
    "line2": "",
    "city": "Lyon",
    "postal_code": "69001",
    "country": "FR",
}


def _line(book_id: str) -> LineRecord:
    return LineRecord(book_id, book_id.title(), 1, 1000, "USD")


async def _order(store: SqlOrderStore, shopper: str, books: list[str], *, confirmed: bool = True) -> None:
    order, _ = await store.claim(
        shopper_id=shopper, key=f"key-{shopper}-{'-'.join(books)}", email=EMAIL, address=ADDRESS
    )
    assert await store.reserved(order.id, [_line(b) for b in books])
    if confirmed:
        assert await store.charged(order.id, f"pay_{shopper}")
        assert await store.confirmed(order.id)
    else:
        assert await store.failed(order.id, Step.RESERVED, reason="card declined", code="FAILED_PRECONDITION")


async def _history(store: SqlOrderStore) -> None:
    """emma+moby-dick in five shoppers' orders; dracula+moby-dick in four confirmed and one failed."""
    for n in range(5):
        await _order(store, f"shopper-{n}", ["emma", "moby-dick"])
    for n in range(4):
        await _order(store, f"reader-{n}", ["dracula", "moby-dick"])
    await _order(store, "reader-declined", ["dracula", "moby-dick"], confirmed=False)
    await _order(store, "alone", ["dracula", "emma"])


async def test_only_pairs_with_enough_distinct_confirmed_orders_are_counted(store: SqlOrderStore) -> None:
    await _history(store)
    found, total = await store.co_purchases(min_orders=5, offset=0, limit=10)
    # dracula+moby-dick has five orders only if the failed one counted; dracula+emma has one.
    assert (found, total) == ([CoPurchase("emma", "moby-dick", 5)], 1)
    everything, _ = await store.co_purchases(min_orders=1, offset=0, limit=10)
    assert everything == [
        CoPurchase("dracula", "emma", 1),
        CoPurchase("dracula", "moby-dick", 4),
        CoPurchase("emma", "moby-dick", 5),
    ]


async def test_the_assistant_reads_pairs_and_no_order(world: World) -> None:
    await _history(world.store)
    channel = world.channel_as(world.issuer.service_token("folio-assistant"))
    assistant = orders_pb2_grpc.OrdersServiceStub(channel)

    # Asking for a lower floor does not lower it: a pair from one basket stays private.
    reply = await assistant.ListCoPurchases(orders_pb2.ListCoPurchasesRequest(min_orders=1))
    assert [(p.book_id_a, p.book_id_b, p.orders) for p in reply.pairs] == [("emma", "moby-dick", 5)]
    assert reply.total_size == 1
    assert CO_PURCHASE_MIN_ORDERS == 5
    wire = reply.SerializeToString()
    for private in (EMAIL, "shopper-0", "Quay", "ord_", "pay_"):
        assert private.encode() not in wire

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await assistant.ListAllOrders(orders_pb2.ListAllOrdersRequest(page_size=10))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_pairs_page_and_callers_are_checked(world: World) -> None:
    for n in range(5):
        await _order(world.store, f"shopper-{n}", ["a-book", "b-book", "c-book"])
    admin = orders_pb2_grpc.OrdersServiceStub(
        world.channel_as(world.issuer.token("carol-id", roles=("customer", "catalog-admin")))
    )
    first = await admin.ListCoPurchases(orders_pb2.ListCoPurchasesRequest(page_size=2))
    second = await admin.ListCoPurchases(
        orders_pb2.ListCoPurchasesRequest(page_size=2, page_token=first.next_page_token)
    )
    pairs = [(p.book_id_a, p.book_id_b) for p in [*first.pairs, *second.pairs]]
    assert pairs == [("a-book", "b-book"), ("a-book", "c-book"), ("b-book", "c-book")]
    assert second.next_page_token == ""

    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await admin.ListCoPurchases(orders_pb2.ListCoPurchasesRequest(min_orders=-1))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    customer = orders_pb2_grpc.OrdersServiceStub(world.channel_as(world.issuer.token("alice-id")))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await customer.ListCoPurchases(orders_pb2.ListCoPurchasesRequest())
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    storefront = orders_pb2_grpc.OrdersServiceStub(
        world.channel_as(world.issuer.service_token("folio-storefront"))
    )
    with pytest.raises(grpc.aio.AioRpcError) as not_storefront:
        await storefront.ListCoPurchases(orders_pb2.ListCoPurchasesRequest())
    assert not_storefront.value.code() == grpc.StatusCode.PERMISSION_DENIED
