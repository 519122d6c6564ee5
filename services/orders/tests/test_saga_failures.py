"""PlaceOrder when a dependency fails: outages, charges that time out or lose their reply, compensations
that must wait for recovery, and a second replica ending a saga in flight."""

import asyncio

import grpc
import pytest

from folio.payment.v1 import payment_pb2
from folio_orders.recovery import recover_once
from folio_orders.saga import INTERRUPTED, NOT_KEPT, PAYMENT_DOWN
from folio_testing.data import BAD_LUHN_CARD_NUMBER, DECLINED_CARD_NUMBER

from .conftest import CONFIRMED, FAILED, PENDING, UNAVAILABLE, fails, only_order


async def test_a_cart_outage_answers_unavailable_and_a_retry_finishes_the_same_order(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.cart.fail["GetCart"] = UNAVAILABLE
    request = world.request()

    error = await fails(world.stub.PlaceOrder(request))

    assert error.code() == UNAVAILABLE
    assert (error.details() or "").startswith("cart is unavailable")
    assert (await only_order(world)).status == PENDING
    del world.cart.fail["GetCart"]
    order = await world.stub.PlaceOrder(request)
    assert order.status == CONFIRMED
    assert len(await world.all_orders()) == 1
    await world.assert_consistent()


async def test_a_catalog_outage_answers_unavailable_naming_the_catalog(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.catalog.fail["ReserveStock"] = UNAVAILABLE
    error = await fails(world.stub.PlaceOrder(world.request()))
    assert error.code() == UNAVAILABLE
    assert (error.details() or "").startswith("catalog is unavailable")
    assert world.payment.calls["Charge"] == 0


async def test_payment_refusing_to_answer_fails_the_order_without_charging(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.payment.fail["Charge"] = UNAVAILABLE  # nothing recorded: GetPayment finds nothing

    error = await fails(world.stub.PlaceOrder(world.request()))

    assert error.code() == UNAVAILABLE
    assert error.details() == PAYMENT_DOWN
    order = await only_order(world)
    assert (order.status, order.failure_reason) == (FAILED, PAYMENT_DOWN)
    assert world.payment.charges() == []
    assert world.catalog.stock["moby-dick"] == 5
    await world.assert_consistent()


async def test_charge_is_sent_once_and_only_lookups_are_retried(world) -> None:
    """Charge has no idempotency_level in the proto: the channel never repeats it; GetPayment it may."""
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.payment.fail["Charge"] = UNAVAILABLE

    await fails(world.stub.PlaceOrder(world.request()))
    assert world.payment.calls["Charge"] == 1

    world.cart.items["anon-bob"] = {"moby-dick": 1}
    world.payment.fail_after["Charge"] = UNAVAILABLE  # charged, and the reply lost
    world.payment.fail["GetPayment"] = UNAVAILABLE
    world.payment.calls.clear()
    error = await fails(world.stub.PlaceOrder(world.request(shopper="anon-bob")))
    assert error.code() == UNAVAILABLE
    assert world.payment.calls["GetPayment"] == 3  # the channel's three attempts
    assert world.payment.calls["Charge"] == 1
    # The outcome is unknown: the order waits, holding its books, for a retry or the recovery loop.
    pending = [o for o in await world.all_orders() if o.shopper_id == "anon-bob"]
    assert [o.status for o in pending] == [PENDING]


async def test_a_retry_with_a_mistyped_card_after_a_lost_reply_keeps_the_charge(world) -> None:
    """The first attempt charged but never heard so; the shopper retries with a typo in the card
    number: payment refuses the card, and the saga finds the first charge under the order's key."""
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.payment.fail_after["Charge"] = UNAVAILABLE
    world.payment.fail["GetPayment"] = UNAVAILABLE
    key = "mistyped-retry-key"
    await fails(world.stub.PlaceOrder(world.request(key=key)))
    del world.payment.fail_after["Charge"], world.payment.fail["GetPayment"]

    order = await world.stub.PlaceOrder(world.request(key=key, number=BAD_LUHN_CARD_NUMBER))

    assert order.status == CONFIRMED
    assert [p.id for p in world.payment.charges()] == [order.payment_id]
    await world.assert_consistent()


async def test_a_charge_that_times_out_before_charging_charges_nothing(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.payment.delay_before["Charge"] = 3 * world.settings.charge_timeout_seconds

    error = await fails(world.stub.PlaceOrder(world.request()))

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
    assert world.payment.calls["GetPayment"] >= 1  # to learn the outcome
    assert len(world.payment.charges()) == 1
    await world.assert_consistent()


async def test_unreachable_payment_leaves_the_order_pending_then_recovery_ends_it(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    await world.servers["payment"].stop()

    error = await fails(world.stub.PlaceOrder(world.request()))

    assert error.code() == UNAVAILABLE
    assert (error.details() or "").startswith("payment is unavailable")
    order = await only_order(world)
    assert order.status == PENDING
    assert world.catalog.stock["moby-dick"] == 4  # still held: the charge's outcome is unknown

    # Recovery while payment is still down postpones; once it is back, it ends the order.
    assert await recover_once(world.checkout, older_than_seconds=-1) == 0
    await world.servers["payment"].start()
    for _ in range(50):  # the channel reconnects after its backoff, as a later recovery pass would find
        if await recover_once(world.checkout, older_than_seconds=-1):
            break
        await asyncio.sleep(0.1)

    order = await only_order(world)
    assert (order.status, order.failure_reason) == (FAILED, INTERRUPTED)
    assert world.payment.charges() == []
    await world.assert_consistent()


async def test_a_commit_the_catalog_refuses_refunds_the_charge(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.catalog.fail["CommitStock"] = grpc.StatusCode.FAILED_PRECONDITION

    error = await fails(world.stub.PlaceOrder(world.request()))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == NOT_KEPT
    [payment] = world.payment.payments.values()
    assert payment.status == payment_pb2.PAYMENT_STATUS_REFUNDED
    order = await only_order(world)
    assert (order.status, order.payment_id) == (FAILED, payment.id)
    assert world.catalog.stock["moby-dick"] == 5
    await world.assert_consistent()


async def test_a_compensation_that_cannot_run_yet_is_finished_by_recovery(world) -> None:
    """Declined, but the catalog is down so the stock cannot be released: the order waits."""
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    world.catalog.fail["ReleaseStock"] = UNAVAILABLE

    error = await fails(world.stub.PlaceOrder(world.request(number=DECLINED_CARD_NUMBER)))

    assert error.code() == UNAVAILABLE
    assert (await only_order(world)).status == PENDING
    del world.catalog.fail["ReleaseStock"]
    assert await recover_once(world.checkout, older_than_seconds=-1) == 1
    order = await only_order(world)
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

    error = await fails(live)
    assert (error.code(), error.details()) == (grpc.StatusCode.FAILED_PRECONDITION, INTERRUPTED)
    [payment] = world.payment.payments.values()
    assert payment.status == payment_pb2.PAYMENT_STATUS_REFUNDED
    await world.assert_consistent()
