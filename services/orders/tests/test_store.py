"""The order store on SQLite and PostgreSQL: one order per key, guarded steps, pages, stuck sagas."""

import asyncio
import time
from types import SimpleNamespace

import pytest

from folio_orders import app
from folio_orders.settings import Settings
from folio_orders.store import LineRecord, OrderRecord, SqlOrderStore, Step
from folio_orders.tables import MIGRATIONS
from folio_platform.database import Database
from folio_testing.data import ADDRESS, EMAIL
from folio_testing.resources import database_options

LINES = [
    LineRecord("moby-dick", "Moby-Dick", 2, 1250, "USD"),
    LineRecord("dracula", "Dracula", 1, 899, "USD"),
]


async def _claim(
    store: SqlOrderStore, shopper: str = "anon-ada", key: str = "key-00001"
) -> tuple[OrderRecord, bool]:
    return await store.claim(shopper_id=shopper, key=key, email=EMAIL, address=ADDRESS)


async def test_one_order_per_shopper_and_key(store: SqlOrderStore) -> None:
    first, created = await _claim(store)
    again, created_again = await _claim(store)
    other_shopper, other_created = await _claim(store, shopper="anon-bob")

    assert (created, created_again, other_created) == (True, False, True)
    assert again == first
    assert other_shopper.id != first.id
    assert (first.status, first.step, first.shipping_address) == ("pending", "created", ADDRESS)


async def test_concurrent_claims_of_one_key_make_one_order(store: SqlOrderStore) -> None:
    results = await asyncio.gather(*(_claim(store, key="contended-key") for _ in range(12)))

    assert len({order.id for order, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1


async def test_steps_move_only_from_the_step_before(store: SqlOrderStore) -> None:
    order, _ = await _claim(store)

    assert await store.charged(order.id, "pay_1") is None, "cannot charge before reserving"
    reserved = await store.reserved(order.id, LINES)
    assert await store.reserved(order.id, LINES) is None, "a second hand cannot reserve again"
    charged = await store.charged(order.id, "pay_1")
    assert await store.failed(order.id, "reserved", reason="late", code="FAILED_PRECONDITION") is None
    confirmed = await store.confirmed(order.id)
    assert await store.failed(order.id, "committed", reason="too late", code="FAILED_PRECONDITION") is None

    # Each step answers the order as it left it, as a read would find it (lines by book id).
    lines = tuple(sorted(LINES, key=lambda line: line.book_id))
    assert reserved is not None
    assert (reserved.step, reserved.lines, reserved.total_minor) == ("reserved", lines, 2 * 1250 + 899)
    assert charged is not None
    assert (charged.step, charged.payment_id, charged.lines) == ("charged", "pay_1", lines)
    assert confirmed is not None
    assert confirmed == await store.get(order.id)
    assert (confirmed.status, confirmed.step, confirmed.payment_id) == ("confirmed", "committed", "pay_1")
    assert (confirmed.total_minor, confirmed.currency_code) == (2 * 1250 + 899, "USD")


async def test_a_step_naming_no_column_is_refused_not_passed_over(store: SqlOrderStore) -> None:
    order, _ = await _claim(store)
    with pytest.raises(ValueError, match="paymnt_id"):
        await store._db.transaction(
            lambda c: store._move(c, order.id, Step.CREATED, step=Step.RESERVED, paymnt_id="pay_1")
        )
    unmoved = await store.get(order.id)
    assert unmoved is not None
    assert unmoved.step == "created"


async def test_a_failed_order_keeps_its_step_reason_and_answer(store: SqlOrderStore) -> None:
    order, _ = await _claim(store)
    await store.reserved(order.id, LINES)

    assert await store.failed(
        order.id, "reserved", reason="card.number: bad", code="INVALID_ARGUMENT", field="card.number"
    )

    failed = await store.get(order.id)
    assert failed is not None
    assert (failed.status, failed.step) == ("failed", "reserved")
    assert (failed.failure_reason, failed.failure_code, failed.failure_field) == (
        "card.number: bad",
        "INVALID_ARGUMENT",
        "card.number",
    )
    assert not await store.charged(order.id, "pay_1"), "a failed saga never moves again"


async def test_pages_newest_first_per_shopper_and_oldest_first_overall(store: SqlOrderStore) -> None:
    ids = []
    for i, shopper in enumerate(["anon-ada", "anon-bob", "anon-ada", "anon-ada"]):
        order, _ = await _claim(store, shopper=shopper, key=f"page-key-{i}")
        ids.append(order.id)
        await asyncio.sleep(0.003)

    page, total = await store.for_shopper("anon-ada", offset=0, limit=2)
    rest, _ = await store.for_shopper("anon-ada", offset=2, limit=2)
    everything, count = await store.everything(offset=1, limit=10)

    assert ([o.id for o in page], [o.id for o in rest], total) == ([ids[3], ids[2]], [ids[0]], 3)
    assert ([o.id for o in everything], count) == (ids[1:], 4)
    assert await store.for_shopper("anon-cy", offset=0, limit=5) == ([], 0)


async def test_stuck_finds_pending_orders_untouched_since_the_cutoff(store: SqlOrderStore) -> None:
    old, _ = await _claim(store, key="old-order-1")
    done, _ = await _claim(store, key="done-order-1")
    await store.failed(done.id, "created", reason="your cart is empty", code="FAILED_PRECONDITION")
    await asyncio.sleep(0.01)
    cutoff = int(time.time() * 1000)
    await asyncio.sleep(0.01)
    await _claim(store, key="new-order-1")

    assert [o.id for o in await store.stuck(older_than_ms=cutoff)] == [old.id]
    assert len(await store.stuck(older_than_ms=cutoff + 10_000, limit=1)) == 1


async def test_orders_survive_a_restart_and_migrations_repeat_safely(database_url: str) -> None:
    with Database.open(database_url, MIGRATIONS) as database:
        first = SqlOrderStore(database)
        order, _ = await _claim(first)
        await first.reserved(order.id, LINES)

    with Database.open(database_url, MIGRATIONS) as database:
        second = SqlOrderStore(database)
        reloaded = await second.get(order.id)
        assert reloaded is not None
        assert (reloaded.step, len(reloaded.lines)) == ("reserved", 2)


async def test_the_orders_ledger_is_opened_durable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commit of the ledger is synced to disk (SQLite synchronous=FULL): a confirmed order or a
    recorded charge survives a power cut."""
    runtime = SimpleNamespace(settings=Settings(), auth=None, telemetry=None, center=None)
    assert (await database_options(monkeypatch, app, runtime))["durable"] is True
