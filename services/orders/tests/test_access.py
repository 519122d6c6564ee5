"""Who may place and read which orders: people their own, the storefront its guests', admins all."""

from collections.abc import Awaitable

import grpc
import pytest

from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio_testing.issuer import FORGED_KINDS, forged_tokens

from .conftest import World


def _as(world: World, token: str | None) -> orders_pb2_grpc.OrdersServiceStub:
    return orders_pb2_grpc.OrdersServiceStub(world.channel_as(token))


async def _code(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_a_person_orders_and_reads_only_as_themselves(world: World) -> None:
    alice = _as(world, world.issuer.token("alice-id", username="alice"))
    bob = _as(world, world.issuer.token("bob-id", username="bob"))
    world.cart.items["alice-id"] = {"moby-dick": 1}
    order = await alice.PlaceOrder(world.request(shopper="alice-id"))
    assert order.status == orders_pb2.ORDER_STATUS_CONFIRMED

    assert await _code(alice.PlaceOrder(world.request(shopper="bob-id"))) == grpc.StatusCode.PERMISSION_DENIED
    assert await _code(bob.ListOrders(orders_pb2.ListOrdersRequest(shopper_id="alice-id"))) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    # Bob asking for Alice's order under his own id finds nothing: it is not his.
    theirs = orders_pb2.GetOrderRequest(shopper_id="bob-id", order_id=order.id)
    assert await _code(bob.GetOrder(theirs)) == grpc.StatusCode.NOT_FOUND
    mine = await alice.ListOrders(orders_pb2.ListOrdersRequest(shopper_id="alice-id"))
    assert [o.id for o in mine.orders] == [order.id]


async def test_the_storefront_acts_only_for_guests(world: World) -> None:
    storefront = _as(world, world.issuer.service_token("folio-storefront"))
    world.cart.items["anon-guest"] = {"emma": 1}
    assert (await storefront.PlaceOrder(world.request(shopper="anon-guest"))).status == (
        orders_pb2.ORDER_STATUS_CONFIRMED
    )
    assert (
        await _code(storefront.PlaceOrder(world.request(shopper="alice-id")))
        == grpc.StatusCode.PERMISSION_DENIED
    )


async def test_only_support_staff_and_operators_list_every_order(world: World) -> None:
    everyone = orders_pb2.ListAllOrdersRequest(page_size=10)
    customer = _as(world, world.issuer.token("alice-id"))
    catalog_admin = _as(world, world.issuer.token("carol-id", roles=("customer", "catalog-admin")))
    support = _as(world, world.issuer.token("dave-id", roles=("support",)))
    assert await _code(customer.ListAllOrders(everyone)) == grpc.StatusCode.PERMISSION_DENIED
    assert await _code(catalog_admin.ListAllOrders(everyone)) == grpc.StatusCode.PERMISSION_DENIED
    assert await _code(_as(world, None).ListAllOrders(everyone)) == grpc.StatusCode.UNAUTHENTICATED
    assert await _code(support.ListAllOrders(everyone)) == grpc.StatusCode.OK
    operator = _as(world, world.issuer.service_token("folio-orders"))
    assert await _code(operator.ListAllOrders(everyone)) == grpc.StatusCode.OK
    # The assistant learns what is bought together from ListCoPurchases, never from the orders themselves.
    for service in ("folio-storefront", "folio-assistant"):
        account = _as(world, world.issuer.service_token(service))
        assert await _code(account.ListAllOrders(everyone)) == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("kind", FORGED_KINDS)
async def test_forged_tokens_are_unauthenticated(world: World, kind: str) -> None:
    forged = _as(world, forged_tokens(world.issuer)[kind])
    request = orders_pb2.ListOrdersRequest(shopper_id="alice-id")
    assert await _code(forged.ListOrders(request)) == grpc.StatusCode.UNAUTHENTICATED
