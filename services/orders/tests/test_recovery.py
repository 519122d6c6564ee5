"""A process that dies at any point of a checkout leaves nothing half-made once recovery has run.

The crash is simulated in the store the saga writes through: at a chosen step it raises
`Crash` (a BaseException, like SystemExit: nothing in the saga may catch it) either before the
step is recorded (the remote call happened, the record did not) or right after. A second
"process" — a new store and saga over the same database — then runs recovery.
"""

import asyncio
import time
from typing import Any

import pytest

from folio.orders.v1 import orders_pb2
from folio_orders.recovery import Backoff, recover_forever, recover_once
from folio_orders.saga import INTERRUPTED, Checkout
from folio_orders.store import OrderRecord, SqlOrderStore
from folio_platform.errors import Unavailable
from folio_testing.data import ADDRESS


class Crash(BaseException):
    """The process died here."""


class CrashingStore:
    """The real store, except that the process dies around one step: `<step>` or `after-<step>`."""

    def __init__(self, store: SqlOrderStore, crash_at: str) -> None:
        self._store = store
        self.crash_at = crash_at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def _step(self, name: str, *args: Any) -> bool:
        if self.crash_at == name:
            raise Crash(f"died before recording {name}")
        done: bool = await getattr(self._store, name)(*args)
        if self.crash_at == f"after-{name}":
            raise Crash(f"died after recording {name}")
        return done

    async def reserved(self, order_id: str, lines: Any) -> bool:
        return await self._step("reserved", order_id, lines)

    async def charged(self, order_id: str, payment_id: str) -> bool:
        return await self._step("charged", order_id, payment_id)

    async def confirmed(self, order_id: str) -> bool:
        return await self._step("confirmed", order_id)


# Where the process dies, what the step column then says, and how recovery must end the order.
CRASHES = [
    ("after-claim", "created", "failed"),  # nothing reserved yet
    ("reserved", "created", "failed"),  # stock held at the catalog, not recorded
    ("after-reserved", "reserved", "failed"),  # reserved and recorded, not charged
    ("charged", "reserved", "confirmed"),  # charged at payment, not recorded
    ("after-charged", "charged", "confirmed"),  # charged and recorded, stock not committed
    ("confirmed", "charged", "confirmed"),  # committed at the catalog, not recorded
]


@pytest.mark.parametrize(("crash_at", "left_at", "ends"), CRASHES)
async def test_recovery_ends_a_checkout_whatever_step_it_died_at(world, crash_at, left_at, ends) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 2}
    request = world.request()
    dying = await world.restarted(lambda store: CrashingStore(store, crash_at))
    order, created = await world.store.claim(
        shopper_id="anon-ada", key=request.idempotency_key, email=request.email, address=ADDRESS
    )
    assert created
    if crash_at != "after-claim":
        with pytest.raises(Crash):
            await dying.advance(order, request.card)
    left = await world.store.get(order.id)
    assert left is not None
    assert (left.status, left.step) == ("pending", left_at)

    recovering = await world.restarted()
    assert await recover_once(recovering, older_than_seconds=-1) == 1

    final = await world.store.get(order.id)
    assert final is not None
    assert final.status == ends
    if ends == "failed":
        assert final.failure_reason == INTERRUPTED
        assert world.catalog.stock["moby-dick"] == 5
        assert world.payment.charges() == []
    else:
        assert world.catalog.stock["moby-dick"] == 3
        [charge] = world.payment.charges()
        assert (final.payment_id, final.total_minor) == (charge.id, charge.amount.minor_units)
    await world.assert_consistent()
    # The shopper's retry with the same key now gets the recovered outcome, and nothing more happens.
    charges = world.payment.calls["Charge"]
    if ends == "confirmed":
        assert (await world.stub.PlaceOrder(request)).status == orders_pb2.ORDER_STATUS_CONFIRMED
    else:
        with pytest.raises(Exception, match=INTERRUPTED):
            await world.stub.PlaceOrder(request)
    assert world.payment.calls["Charge"] == charges


async def test_a_retry_with_the_same_key_finishes_a_crashed_checkout_itself(world) -> None:
    world.cart.items["anon-ada"] = {"moby-dick": 1}
    request = world.request()
    dying = await world.restarted(lambda store: CrashingStore(store, "after-reserved"))
    order, _ = await world.store.claim(
        shopper_id="anon-ada", key=request.idempotency_key, email=request.email, address=ADDRESS
    )
    with pytest.raises(Crash):
        await dying.advance(order, request.card)

    placed = await world.stub.PlaceOrder(request)

    assert (placed.id, placed.status) == (order.id, orders_pb2.ORDER_STATUS_CONFIRMED)
    assert world.payment.calls["Charge"] == 1
    await world.assert_consistent()


async def test_recovery_leaves_young_pending_orders_to_their_live_checkout(world) -> None:
    order, _ = await world.store.claim(
        shopper_id="anon-ada", key="young-order-1", email="a@b.co", address=ADDRESS
    )

    assert await recover_once(world.checkout, older_than_seconds=60) == 0

    again = await world.store.get(order.id)
    assert again is not None
    assert again.status == "pending"
    assert world.catalog.calls["ReleaseStock"] == 0


async def test_the_recovery_loop_runs_at_start_and_then_periodically(world) -> None:
    first, _ = await world.store.claim(
        shopper_id="anon-ada", key="stuck-order-1", email="a@b.co", address=ADDRESS
    )
    loop = asyncio.create_task(recover_forever(world.checkout, interval=0.05, older_than=0))
    try:
        await _until_ended(world, first.id)
        second, _ = await world.store.claim(
            shopper_id="anon-bob", key="stuck-order-2", email="b@b.co", address=ADDRESS
        )
        await _until_ended(world, second.id)
    finally:
        loop.cancel()
    await world.assert_consistent()


async def _until_ended(world, order_id: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(100):
        order = await world.store.get(order_id)
        if order.status != "pending":
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"order {order_id} still pending")


async def test_two_replicas_driving_one_checkout_at_once_charge_it_once(any_db_world) -> None:
    """No lock is shared between processes: the guarded steps and idempotent calls must suffice."""
    world = any_db_world
    world.cart.items["anon-ada"] = {"moby-dick": 1, "emma": 2}
    request = world.request()
    order, _ = await world.store.claim(
        shopper_id="anon-ada", key=request.idempotency_key, email=request.email, address=ADDRESS
    )
    replicas = [world.checkout, await world.restarted(), await world.restarted()]

    ended = await asyncio.gather(*(replica.advance(order, request.card) for replica in replicas))

    assert {o.status for o in ended} == {"confirmed"}
    assert len(world.payment.charges()) == 1
    assert world.payment.refund_keys == set()
    assert (world.catalog.stock["moby-dick"], world.catalog.stock["emma"]) == (4, 1)
    await world.assert_consistent()


class StuckCheckoutDouble:
    """The real saga, except that the orders in `failing` cannot end (their dependency stays down)."""

    def __init__(self, real: Checkout, failing: set[str]) -> None:
        self.real, self.failing = real, failing
        self.store = real.store
        self.tried: list[str] = []

    async def advance(self, order: OrderRecord) -> OrderRecord:
        self.tried.append(order.id)
        if order.id in self.failing:
            raise Unavailable("catalog", "catalog is unavailable")
        return await self.real.advance(order)


async def _stuck(world, count: int, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    ids = []
    for n in range(count):
        order, _ = await world.store.claim(
            shopper_id=f"anon-{prefix}{n}", key=f"{prefix}-order-{n}", email="a@b.co", address=ADDRESS
        )
        ids.append(order.id)
        await asyncio.sleep(0.002)  # distinct updated_at: the failing ones are the oldest
    return ids


async def test_orders_that_keep_failing_cannot_starve_the_others(world) -> None:
    """Five old orders whose dependency is down, batches of two: the newer order still ends."""
    failing = await _stuck(world, 5, "failing")
    [healthy] = await _stuck(world, 1, "healthy")
    checkout = StuckCheckoutDouble(world.checkout, set(failing))
    backoff = Backoff(first=60, chance=lambda: 1.0)

    for _ in range(3):
        await recover_once(checkout, older_than_seconds=-1, limit=2, backoff=backoff)  # type: ignore[arg-type]

    assert (await world.store.get(healthy)).status == "failed"  # ended: released, nothing charged
    assert sorted(checkout.tried) == sorted([*failing, healthy])  # each tried once, none twice
    postponed = [await world.store.get(order_id) for order_id in failing]
    assert {(o.status, o.recovery_attempts) for o in postponed} == {("pending", 1)}
    assert min(o.recover_after_ms for o in postponed) > time.time() * 1000 + 50_000


async def test_a_postponed_order_is_tried_again_after_its_backoff_and_waits_longer_each_time(world) -> None:
    [order_id] = await _stuck(world, 1, "flaky")
    checkout = StuckCheckoutDouble(world.checkout, {order_id})
    backoff = Backoff(first=0.05, cap=10, chance=lambda: 1.0)

    await recover_once(checkout, older_than_seconds=-1, backoff=backoff)  # type: ignore[arg-type]
    await recover_once(checkout, older_than_seconds=-1, backoff=backoff)  # type: ignore[arg-type]
    assert checkout.tried == [order_id]  # still waiting out its backoff
    await asyncio.sleep(0.1)
    await recover_once(checkout, older_than_seconds=-1, backoff=backoff)  # type: ignore[arg-type]
    assert checkout.tried == [order_id, order_id]
    order = await world.store.get(order_id)
    assert order.recovery_attempts == 2
    assert order.recover_after_ms - time.time() * 1000 > 50  # the second wait is twice the first

    checkout.failing.clear()
    await asyncio.sleep(0.15)
    assert await recover_once(checkout, older_than_seconds=-1, backoff=backoff) == 1  # type: ignore[arg-type]
    await world.assert_consistent()


def test_the_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    assert [Backoff(first=5, cap=60, chance=lambda: 1.0).seconds(n) for n in range(6)] == [
        5,
        10,
        20,
        40,
        60,
        60,
    ]
    assert Backoff(first=5, cap=60, chance=lambda: 0.0).seconds(1) == 5
