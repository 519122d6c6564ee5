"""PlaceOrder's outcomes over gRPC: success, every refusal, outages and lost replies, idempotency."""

import asyncio

import grpc
import pytest

from folio.orders.v1 import orders_pb2
from folio.payment.v1 import payment_pb2
from folio_orders.recovery import recover_once
from folio_orders.saga import INTERRUPTED, NOT_KEPT, PAYMENT_DOWN
from folio_platform.errors import field_violations
from folio_testing.data import (
    ADDRESS,
    BAD_LUHN_CARD_NUMBER,
    DECLINED_CARD_NUMBER,
    EMAIL,
    address_message,
    card_message,
)

CONFIRMED, FAILED, PENDING = (
    orders_pb2.ORDER_STATUS_CONFIRMED,
    orders_pb2.ORDER_STATUS_FAILED,
    orders_pb2.ORDER_STATUS_PENDING,
)
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


async def _fails(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def _only_order(world) -> orders_pb2.Order:  # type: ignore[no-untyped-def]
    [order] = await world.all_orders()
    return order


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
    error = await _fails(world.stub.PlaceOrder(world.request()))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "your cart is empty"
    order = await _only_order(world)
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

    error = await _fails(world.stub.PlaceOrder(world.request()))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == message
    assert (await _only_order(world)).failure_reason == message
    assert world.payment.calls["Charge"] == 0
    assert world.catalog.stock == {"moby-dick": 5, "dracula": 1, "emma": 3}
    await world.assert_consistent()


async def test_a_declined_card_releases_the_stock_and_keeps_the_cart(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    request = world.request(key="declined-once", number=DECLINED_CARD_NUMBER)

    error = await _fails(world.stub.PlaceOrder(request))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "Your card was declined."
    assert world.catalog.stock["moby-dick"] == 5
    assert world.cart.items["anon-ada"] == {"moby-dick": 1}
    order = await _only_order(world)
    assert (order.status, order.failure_reason) == (FAILED, "Your card was declined.")
    # A retry with the same key gives the same answer and asks the bank nothing more.
    again = await _fails(world.stub.PlaceOrder(request))
    assert (again.code(), again.details()) == (error.code(), error.details())
    assert world.payment.calls["Charge"] == 1
    await world.assert_consistent()


async def test_a_malformed_card_is_invalid_argument_naming_the_card_field(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    request = world.request(key="bad-card-key", number=BAD_LUHN_CARD_NUMBER)

    error = await _fails(world.stub.PlaceOrder(request))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == [("card.number", "is not a valid card number; check it for a typo")]
    assert world.catalog.stock["moby-dick"] == 5
    assert (await _only_order(world)).status == FAILED
    again = await _fails(world.stub.PlaceOrder(request))
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

    error = await _fails(world.stub.PlaceOrder(_bad(field, value)))

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


async def test_a_cart_outage_answers_unavailable_and_a_retry_finishes_the_same_order(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.cart.fail["GetCart"] = UNAVAILABLE
    request = world.request()

    error = await _fails(world.stub.PlaceOrder(request))

    assert error.code() == UNAVAILABLE
    assert (error.details() or "").startswith("cart is unavailable")
    assert (await _only_order(world)).status == PENDING
    del world.cart.fail["GetCart"]
    order = await world.stub.PlaceOrder(request)
    assert order.status == CONFIRMED
    assert len(await world.all_orders()) == 1
    await world.assert_consistent()


async def test_a_catalog_outage_answers_unavailable_naming_the_catalog(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.catalog.fail["ReserveStock"] = UNAVAILABLE
    error = await _fails(world.stub.PlaceOrder(world.request()))
    assert error.code() == UNAVAILABLE
    assert (error.details() or "").startswith("catalog is unavailable")
    assert world.payment.calls["Charge"] == 0


async def test_payment_refusing_to_answer_fails_the_order_without_charging(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.payment.fail["Charge"] = UNAVAILABLE  # nothing recorded: GetPayment finds nothing

    error = await _fails(world.stub.PlaceOrder(world.request()))

    assert error.code() == UNAVAILABLE
    assert error.details() == PAYMENT_DOWN
    order = await _only_order(world)
    assert (order.status, order.failure_reason) == (FAILED, PAYMENT_DOWN)
    assert world.payment.charges() == []
    assert world.catalog.stock["moby-dick"] == 5
    await world.assert_consistent()


async def test_charge_is_sent_once_and_only_lookups_are_retried(world) -> None:
    """Charge has no idempotency_level in the proto: the channel never repeats it; GetPayment it may."""
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.payment.fail["Charge"] = UNAVAILABLE

    await _fails(world.stub.PlaceOrder(world.request()))
    assert world.payment.calls["Charge"] == 1

    world.cart.items["anon-bob"] = {"moby-dick": 1}
    world.payment.fail["GetPayment"] = UNAVAILABLE
    world.payment.calls.clear()
    error = await _fails(world.stub.PlaceOrder(world.request(shopper="anon-bob")))
    assert error.code() == UNAVAILABLE
    assert world.payment.calls["GetPayment"] == 3  # the channel's three attempts
    assert world.payment.calls["Charge"] == 0  # the outcome of earlier attempts is unknown: not charged


async def test_a_charge_that_times_out_before_charging_charges_nothing(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.payment.delay_before["Charge"] = 3 * world.settings.charge_timeout_seconds

    error = await _fails(world.stub.PlaceOrder(world.request()))

    assert error.code() == UNAVAILABLE
    assert error.details() == PAYMENT_DOWN
    # Longer than the handler's delay: had its deadline not cancelled it, it would have charged by then.
    await asyncio.wait_for(
        world.payment.charge_ended.wait(), timeout=4 * world.settings.charge_timeout_seconds
    )
    assert world.payment.charges() == [], "the double's cancelled handler must not have charged"
    await world.assert_consistent()


@pytest.mark.parametrize("switch", ["lost reply", "slow reply"])
async def test_a_charge_whose_reply_is_lost_still_confirms_with_one_charge(world, switch) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    if switch == "lost reply":
        world.payment.fail_after["Charge"] = UNAVAILABLE
    else:
        world.payment.delay_after["Charge"] = 3 * world.settings.charge_timeout_seconds

    order = await world.stub.PlaceOrder(world.request())

    assert order.status == CONFIRMED
    assert world.payment.calls["GetPayment"] >= 2  # before charging, and to learn the outcome
    assert len(world.payment.charges()) == 1
    await world.assert_consistent()


async def test_unreachable_payment_leaves_the_order_pending_then_recovery_ends_it(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    await world.servers["payment"].stop()

    error = await _fails(world.stub.PlaceOrder(world.request()))

    assert error.code() == UNAVAILABLE
    assert (error.details() or "").startswith("payment is unavailable")
    order = await _only_order(world)
    assert order.status == PENDING
    assert world.catalog.stock["moby-dick"] == 4  # still held: the charge's outcome is unknown

    # Recovery while payment is still down postpones; once it is back, it ends the order.
    assert await recover_once(world.checkout, older_than_seconds=-1) == 0
    await world.servers["payment"].start()
    for _ in range(50):  # the channel reconnects after its backoff, as a later recovery pass would find
        if await recover_once(world.checkout, older_than_seconds=-1):
            break
        await asyncio.sleep(0.1)

    order = await _only_order(world)
    assert (order.status, order.failure_reason) == (FAILED, INTERRUPTED)
    assert world.payment.charges() == []
    await world.assert_consistent()


async def test_a_commit_the_catalog_refuses_refunds_the_charge(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.catalog.fail["CommitStock"] = grpc.StatusCode.FAILED_PRECONDITION

    error = await _fails(world.stub.PlaceOrder(world.request()))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == NOT_KEPT
    [payment] = world.payment.payments.values()
    assert payment.status == payment_pb2.PAYMENT_STATUS_REFUNDED
    order = await _only_order(world)
    assert (order.status, order.payment_id) == (FAILED, payment.id)
    assert world.catalog.stock["moby-dick"] == 5
    await world.assert_consistent()


async def test_a_compensation_that_cannot_run_yet_is_finished_by_recovery(world) -> None:
    """Declined, but the catalog is down so the stock cannot be released: the order waits."""
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.catalog.fail["ReleaseStock"] = UNAVAILABLE

    error = await _fails(world.stub.PlaceOrder(world.request(number=DECLINED_CARD_NUMBER)))

    assert error.code() == UNAVAILABLE
    assert (await _only_order(world)).status == PENDING
    del world.catalog.fail["ReleaseStock"]
    assert await recover_once(world.checkout, older_than_seconds=-1) == 1
    order = await _only_order(world)
    assert (order.status, order.failure_reason) == (FAILED, "Your card was declined.")
    assert world.payment.calls["Charge"] == 1
    await world.assert_consistent()


async def test_a_book_added_during_checkout_stays_in_the_cart(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1, "dracula": 1}
    world.payment.delay_before["Charge"] = 0.3
    checkout = asyncio.ensure_future(world.stub.PlaceOrder(world.request()))
    await world.payment.started("Charge").wait()
    world.cart.items["anon-ada"]["emma"] = 2  # the shopper adds a book in another tab

    order = await checkout

    assert order.status == CONFIRMED
    assert sorted(line.book_id for line in order.lines) == ["dracula", "moby-dick"]
    assert world.cart.items["anon-ada"] == {"emma": 2}
    await world.assert_consistent()


async def test_a_cart_that_cannot_be_emptied_does_not_undo_the_order(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.cart.fail["RemoveItem"] = UNAVAILABLE

    order = await world.stub.PlaceOrder(world.request())

    assert order.status == CONFIRMED
    assert world.cart.items["anon-ada"] == {"moby-dick": 1}
    await world.assert_consistent()


async def test_a_charge_landing_after_another_replica_ended_the_saga_is_refunded(world) -> None:
    """Replica B's recovery ends a slow checkout (no charge yet); replica A's charge then lands."""
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.payment.gate["Charge"] = asyncio.Event()
    live = asyncio.ensure_future(world.stub.PlaceOrder(world.request()))
    await asyncio.wait_for(world.payment.started("Charge").wait(), timeout=5)

    other_replica = await world.restarted()
    assert await recover_once(other_replica, older_than_seconds=-1) == 1
    world.payment.gate["Charge"].set()

    error = await _fails(live)
    assert (error.code(), error.details()) == (grpc.StatusCode.FAILED_PRECONDITION, INTERRUPTED)
    [payment] = world.payment.payments.values()
    assert payment.status == payment_pb2.PAYMENT_STATUS_REFUNDED
    await world.assert_consistent()


async def test_orders_are_private_to_their_shopper(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    mine = await world.stub.PlaceOrder(world.request())

    assert (
        await world.stub.GetOrder(orders_pb2.GetOrderRequest(shopper_id="anon-ada", order_id=mine.id)) == mine
    )
    for shopper, order_id in [("anon-bob", mine.id), ("anon-ada", "ord_missing")]:
        error = await _fails(
            world.stub.GetOrder(orders_pb2.GetOrderRequest(shopper_id=shopper, order_id=order_id))
        )
        assert error.code() == grpc.StatusCode.NOT_FOUND
    others = await world.stub.ListOrders(orders_pb2.ListOrdersRequest(shopper_id="anon-bob"))
    assert (list(others.orders), others.total_size) == ([], 0)
    error = await _fails(world.stub.GetOrder(orders_pb2.GetOrderRequest(shopper_id="", order_id=mine.id)))
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
    error = await _fails(
        world.stub.ListOrders(
            orders_pb2.ListOrdersRequest(shopper_id="anon-bob", page_token=first.next_page_token)
        )
    )
    assert field_violations(error)[0][0] == "page_token"
