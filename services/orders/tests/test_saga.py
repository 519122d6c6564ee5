"""PlaceOrder's outcomes over gRPC: success, every refusal, idempotency, and the order lists.
(Outages, timeouts and lost replies: test_saga_failures.py.)"""

import asyncio

import grpc
import pytest

from folio.orders.v1 import orders_pb2
from folio_platform.errors import field_violations
from folio_testing.data import (
    ADDRESS,
    BAD_LUHN_CARD_NUMBER,
    DECLINED_CARD_NUMBER,
    EMAIL,
    address_message,
    card_message,
)

from .conftest import CONFIRMED, FAILED, fails, only_order


async def test_a_checkout_charges_the_catalog_prices_once_and_empties_the_cart(any_db_world) -> None:
    world = any_db_world
    world.cart.items["anon-ada"] = {"moby-dick": 2, "dracula": 1}

    order = await world.stub.PlaceOrder(world.request())

    assert order.status == CONFIRMED
    assert [
        (line.book_id, line.title, line.quantity, line.unit_price.minor_units) for line in order.lines
    ] == [
        ("dracula", "Dracula", 1, 899),
        ("moby-dick", "Moby-Dick", 2, 1250),
    ]
    assert (order.total.minor_units, order.total.currency_code) == (2 * 1250 + 899, "USD")
    [charge] = world.payment.payments.values()
    assert (charge.idempotency_key, charge.reference, charge.amount) == (
        f"order-{order.id}",
        order.id,
        order.total,
    )
    assert order.payment_id == charge.id
    assert (order.email, order.shipping_address.country) == (EMAIL, ADDRESS["country"])
    assert world.catalog.stock == {"moby-dick": 3, "dracula": 0, "emma": 3}
    assert world.cart.items == {}
    await world.assert_consistent()


async def test_an_empty_cart_fails_the_order_and_charges_nothing(world) -> None:
    error = await fails(world.stub.PlaceOrder(world.request()))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "your cart is empty"
    order = await only_order(world)
    assert (order.status, order.failure_reason) == (FAILED, "your cart is empty")
    assert world.catalog.calls["ReserveStock"] == world.payment.calls["Charge"] == 0


@pytest.mark.parametrize(
    ("cart", "message"),
    [
        ({"dracula": 2}, "not enough stock: only 1 copies of Dracula left"),
        ({"moby-dick": 1, "no-such-book": 1}, "no book with id 'no-such-book'"),
    ],
)
async def test_stock_the_catalog_cannot_hold_fails_with_its_reason(world, cart, message) -> None:
    world.cart.items["anon-ada"] = cart

    error = await fails(world.stub.PlaceOrder(world.request()))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == message
    assert (await only_order(world)).failure_reason == message
    assert world.payment.calls["Charge"] == 0
    assert world.catalog.stock == {"moby-dick": 5, "dracula": 1, "emma": 3}
    await world.assert_consistent()


async def test_a_declined_card_releases_the_stock_and_keeps_the_cart(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    request = world.request(key="declined-once", number=DECLINED_CARD_NUMBER)

    error = await fails(world.stub.PlaceOrder(request))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "Your card was declined."
    assert world.catalog.stock["moby-dick"] == 5
    assert world.cart.items["anon-ada"] == {"moby-dick": 1}
    order = await only_order(world)
    assert (order.status, order.failure_reason) == (FAILED, "Your card was declined.")
    # A retry with the same key gives the same answer and asks the bank nothing more.
    again = await fails(world.stub.PlaceOrder(request))
    assert (again.code(), again.details()) == (error.code(), error.details())
    assert world.payment.calls["Charge"] == 1
    await world.assert_consistent()


async def test_a_malformed_card_is_invalid_argument_naming_the_card_field(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    request = world.request(key="bad-card-key", number=BAD_LUHN_CARD_NUMBER)

    error = await fails(world.stub.PlaceOrder(request))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == [("card.number", "is not a valid card number; check it for a typo")]
    assert world.catalog.stock["moby-dick"] == 5
    assert (await only_order(world)).status == FAILED
    again = await fails(world.stub.PlaceOrder(request))
    assert field_violations(again) == field_violations(error)
    await world.assert_consistent()


def _bad(field: str, value: object) -> orders_pb2.PlaceOrderRequest:
    """A good request with `field` set to `value` (the card dropped for "card")."""
    request = orders_pb2.PlaceOrderRequest(
        shopper_id="anon-ada",
        idempotency_key="a-good-key-1",
        email=EMAIL,
        card=card_message(),
        shipping_address=address_message(),
    )
    if field == "card":
        request.ClearField("card")
    elif field.startswith("shipping_address."):
        setattr(request.shipping_address, field.split(".")[1], value)
    else:
        setattr(request, field, value)
    return request


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("shopper_id", "", "shopper_id"),
        ("shopper_id", "ada\n", "shopper_id"),
        ("shopper_id", "anon-ada\x00", "shopper_id"),
        ("email", "ada@example.com\r\nBcc: eve@example.com", "email"),
        ("shipping_address.name", "Ada\x1b[2J", "shipping_address.name"),
        ("shipping_address.city", "Paris\x00", "shipping_address.city"),
        ("shopper_id", "x" * 129, "shopper_id"),
        ("idempotency_key", "short", "idempotency_key"),
        ("idempotency_key", "has spaces in it", "idempotency_key"),
        ("email", "not-an-email", "email"),
        ("card", None, "card.number"),
        ("shipping_address.name", " ", "shipping_address.name"),
        ("shipping_address.line1", "", "shipping_address.line1"),
        ("shipping_address.city", "", "shipping_address.city"),
        ("shipping_address.postal_code", "", "shipping_address.postal_code"),
        ("shipping_address.country", "France", "shipping_address.country"),
    ],
)
async def test_bad_requests_name_the_field_and_record_nothing(world, field, value, named) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}

    error = await fails(world.stub.PlaceOrder(_bad(field, value)))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error)[0][0] == named
    assert await world.all_orders() == []


async def test_a_lowercase_country_code_is_accepted(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    order = await world.stub.PlaceOrder(_bad("shipping_address.country", "fr"))
    assert order.shipping_address.country == "FR"


async def test_a_retry_with_the_same_key_returns_the_same_order_without_charging_again(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    request = world.request(key="retry-key-1")
    first = await world.stub.PlaceOrder(request)
    world.cart.items["anon-ada"] = {"emma": 1}  # the shopper fills a new cart meanwhile

    again = await world.stub.PlaceOrder(request)

    assert again == first
    assert world.payment.calls["Charge"] == 1
    assert world.cart.items["anon-ada"] == {"emma": 1}, "a retry must not empty the new cart"
    other = await world.stub.PlaceOrder(world.request(key="retry-key-2"))
    assert other.id != first.id
    await world.assert_consistent()


async def test_concurrent_identical_checkouts_make_one_order_and_one_charge(any_db_world) -> None:
    world = any_db_world
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.payment.delay_before["Charge"] = 0.2  # keep the first saga busy while the rest arrive
    request = world.request(key="same-key-123")

    orders = await asyncio.gather(*(world.stub.PlaceOrder(request) for _ in range(8)))

    assert {o.id for o in orders} == {orders[0].id}
    assert {o.status for o in orders} == {CONFIRMED}
    assert world.payment.calls["Charge"] == 1
    assert world.catalog.stock["moby-dick"] == 4
    assert len(await world.all_orders()) == 1
    assert len(world.checkout.locks) == 0, "per-order locks must not pile up"
    await world.assert_consistent()


async def test_orders_are_private_to_their_shopper(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    mine = await world.stub.PlaceOrder(world.request())

    assert (
        await world.stub.GetOrder(orders_pb2.GetOrderRequest(shopper_id="anon-ada", order_id=mine.id)) == mine
    )
    for shopper, order_id in [("anon-bob", mine.id), ("anon-ada", "ord_missing")]:
        error = await fails(
            world.stub.GetOrder(orders_pb2.GetOrderRequest(shopper_id=shopper, order_id=order_id))
        )
        assert error.code() == grpc.StatusCode.NOT_FOUND
    others = await world.stub.ListOrders(orders_pb2.ListOrdersRequest(shopper_id="anon-bob"))
    assert (list(others.orders), others.total_size) == ([], 0)
    error = await fails(world.stub.GetOrder(orders_pb2.GetOrderRequest(shopper_id="", order_id=mine.id)))
    assert field_violations(error)[0][0] == "shopper_id"


async def test_order_lists_page_newest_first_for_a_shopper_and_oldest_first_for_everyone(world) -> None:
    ids = []
    for shopper in ["anon-ada", "anon-bob", "anon-ada", "anon-ada"]:
        world.cart.items[shopper] = {"moby-dick": 1}
        ids.append((await world.stub.PlaceOrder(world.request(shopper=shopper))).id)
        await asyncio.sleep(0.005)
    adas = [ids[3], ids[2], ids[0]]

    first = await world.stub.ListOrders(orders_pb2.ListOrdersRequest(shopper_id="anon-ada", page_size=2))
    rest = await world.stub.ListOrders(
        orders_pb2.ListOrdersRequest(shopper_id="anon-ada", page_size=2, page_token=first.next_page_token)
    )

    assert [o.id for o in first.orders] == adas[:2]
    assert ([o.id for o in rest.orders], rest.next_page_token) == (adas[2:], "")
    assert first.total_size == rest.total_size == 3
    everyone = await world.operator.ListAllOrders(orders_pb2.ListAllOrdersRequest(page_size=3))
    assert [o.id for o in everyone.orders] == ids[:3]
    assert everyone.total_size == 4
    # A page token only works for the list it was issued for.
    error = await fails(
        world.stub.ListOrders(
            orders_pb2.ListOrdersRequest(shopper_id="anon-bob", page_token=first.next_page_token)
        )
    )
    assert field_violations(error)[0][0] == "page_token"
