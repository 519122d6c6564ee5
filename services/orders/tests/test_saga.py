"""The checkout saga's outcomes, its idempotency, and recovery from every step it records."""

import asyncio

import grpc
import pytest

from folio.orders.v1 import orders_pb2
from folio.payment.v1 import payment_pb2
from folio_orders.reconcile import reconcile
from folio_orders.recovery import recover_once
from folio_platform.errors import field_violations


async def _fails(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def _consistent(world) -> None:  # type: ignore[no-untyped-def]
    everything = await world.stub.ListAllOrders(orders_pb2.ListAllOrdersRequest(page_size=100))
    report = reconcile(list(everything.orders), list(world.payment.payments.values()))
    assert report.ok, report.summary()
    held = [r for r, (state, _) in world.catalog.reservations.items() if state == "held"]
    assert held == [], f"stock still held by {held}"


async def test_a_checkout_confirms_charges_once_and_empties_the_cart(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 2}

    order = await world.stub.PlaceOrder(world.request())

    assert order.status == orders_pb2.ORDER_STATUS_CONFIRMED
    assert order.total.minor_units == 2 * world.price
    assert [(line.book_id, line.quantity) for line in order.lines] == [("moby-dick", 2)]
    assert world.catalog.stock["moby-dick"] == 3
    assert world.catalog.reservations[order.id][0] == "committed"
    assert world.cart.items == {}
    await _consistent(world)


async def test_an_empty_cart_is_refused(world) -> None:
    error = await _fails(world.stub.PlaceOrder(world.request()))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "empty" in (error.details() or "")


async def test_too_few_copies_is_refused_with_the_catalogs_reason(world) -> None:
    world.cart.items["anon-ada"] = {"dracula": 2}
    error = await _fails(world.stub.PlaceOrder(world.request()))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "only 1 copies" in (error.details() or "")
    assert world.payment.charge_calls == 0


async def test_a_declined_card_releases_the_stock(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    key = "declined-once"
    error = await _fails(world.stub.PlaceOrder(world.request(key=key, number="4000000000000002")))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "declined" in (error.details() or "")
    assert world.catalog.stock["moby-dick"] == 5
    assert world.cart.items["anon-ada"] == {"moby-dick": 1}
    # A retry with the same key gives the same answer, and asks the bank nothing more.
    again = await _fails(world.stub.PlaceOrder(world.request(key=key, number="4000000000000002")))
    assert again.details() == error.details()
    assert world.payment.charge_calls == 1
    await _consistent(world)


async def test_a_malformed_card_names_the_field(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    error = await _fails(world.stub.PlaceOrder(world.request(number="4242424242424241")))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error)[0][0] == "card.number"
    assert world.catalog.stock["moby-dick"] == 5


async def test_bad_requests_name_the_field(world) -> None:
    request = world.request()
    request.shipping_address.country = "France"
    assert field_violations(await _fails(world.stub.PlaceOrder(request)))[0][0] == "shipping_address.country"
    request = world.request(key="short")
    assert field_violations(await _fails(world.stub.PlaceOrder(request)))[0][0] == "idempotency_key"


async def test_the_same_key_places_one_order_even_concurrently(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    request = world.request(key="same-key-123")

    orders = await asyncio.gather(*(world.stub.PlaceOrder(request) for _ in range(10)))

    assert {o.id for o in orders} == {orders[0].id}
    assert len(world.payment.payments) == 1
    assert world.catalog.stock["moby-dick"] == 4
    await _consistent(world)


async def test_a_cart_outage_answers_unavailable_and_leaves_nothing_half_made(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.cart.down = True
    request = world.request()
    error = await _fails(world.stub.PlaceOrder(request))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "cart" in (error.details() or "")

    # The shopper retries once the cart is back: the same order completes.
    world.cart.down = False
    assert (await world.stub.PlaceOrder(request)).status == orders_pb2.ORDER_STATUS_CONFIRMED
    await _consistent(world)


async def test_payment_unreachable_charges_nothing(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.payment.charge_down = True
    error = await _fails(world.stub.PlaceOrder(world.request()))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not charged" in (error.details() or "")
    assert world.catalog.stock["moby-dick"] == 5
    await _consistent(world)


async def test_a_lost_charge_reply_still_confirms_with_one_charge(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.payment.charge_then_down = True
    order = await world.stub.PlaceOrder(world.request())
    assert order.status == orders_pb2.ORDER_STATUS_CONFIRMED
    assert len(world.payment.payments) == 1
    await _consistent(world)


@pytest.mark.parametrize("crashed_after", ["created", "reserved", "reserved-and-charged", "charged"])
async def test_recovery_ends_a_saga_interrupted_at_any_step(world, crashed_after: str) -> None:
    """A saga whose process died after a step is ended by recovery, consistently."""
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    request = world.request()
    order, _ = await world.store.claim(
        shopper_id="anon-ada",
        key=request.idempotency_key,
        email=request.email,
        address={
            "name": "Ada",
            "line1": "1",
            "line2": "",
            "city": "Paris",
            "postal_code": "1",
            "country": "FR",
        },
    )
    checkout = world.checkout
    if crashed_after != "created":
        await checkout._reserve(order)  # the step ran and was recorded, then the process died
    if crashed_after in ("reserved-and-charged", "charged"):
        reserved = await world.store.get(order.id)
        assert reserved is not None
        charged_payment = await world.payment.Charge(
            payment_pb2.ChargeRequest(
                idempotency_key=f"order-{order.id}",
                card=request.card,
                reference=order.id,
                amount={"currency_code": "USD", "minor_units": reserved.total_minor},
            ),
            None,
        )
        if crashed_after == "charged":
            await world.store.charged(order.id, charged_payment.id)

    ended = await recover_once(world.store, checkout, older_than_seconds=-1)

    assert ended == 1
    final = await world.store.get(order.id)
    assert final is not None
    expected = "failed" if crashed_after in ("created", "reserved") else "confirmed"
    assert final.status == expected
    await _consistent(world)
    assert world.catalog.stock["moby-dick"] == (5 if expected == "failed" else 4)


async def test_orders_are_private_to_their_shopper_and_paged(world) -> None:
    ids = []
    for _ in range(3):
        world.cart.items["anon-ada"] = {"moby-dick": 1}
        ids.append((await world.stub.PlaceOrder(world.request())).id)

    page = await world.stub.ListOrders(orders_pb2.ListOrdersRequest(shopper_id="anon-ada", page_size=2))
    rest = await world.stub.ListOrders(
        orders_pb2.ListOrdersRequest(shopper_id="anon-ada", page_size=2, page_token=page.next_page_token)
    )
    assert [o.id for o in [*page.orders, *rest.orders]] == ids[::-1]
    assert page.total_size == 3
    other = await world.stub.ListOrders(orders_pb2.ListOrdersRequest(shopper_id="anon-bob"))
    assert list(other.orders) == []
    error = await _fails(
        world.stub.GetOrder(orders_pb2.GetOrderRequest(shopper_id="anon-bob", order_id=ids[0]))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    mine = await world.stub.GetOrder(orders_pb2.GetOrderRequest(shopper_id="anon-ada", order_id=ids[0]))
    assert mine.id == ids[0]


async def test_finished_sagas_leave_no_lock_behind(world) -> None:  # type: ignore[no-untyped-def]
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    request = world.request()
    await asyncio.gather(*(world.stub.PlaceOrder(request) for _ in range(5)))

    assert world.checkout._locks == {}
