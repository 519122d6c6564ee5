"""One contract for every cart store: SQLite (embedded) and Redis (cluster), both real."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from folio_cart.store import CartStore, Limits, Line, RedisCartStore, SqliteCartStore
from folio_platform.errors import FailedPrecondition, Unavailable
from folio_testing.plugin import RedisServer

LIMITS = Limits(max_quantity=99, max_lines=5)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CartStore]:
    if request.param == "sqlite":
        opened: CartStore = SqliteCartStore(f"sqlite:///{tmp_path / 'cart.db'}", LIMITS)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        opened = RedisCartStore(server.url, LIMITS, ttl_seconds=60)
    yield opened
    await opened.close()


@pytest.fixture
def shopper() -> str:
    return f"anon-{uuid.uuid4().hex}"


async def test_a_new_shopper_has_an_empty_cart(store: CartStore, shopper: str) -> None:
    assert await store.get(shopper) == []


async def test_add_accumulates_and_keeps_first_added_order(store: CartStore, shopper: str) -> None:
    await store.add(shopper, "moby-dick", 1)
    await store.add(shopper, "dracula", 2)
    lines = await store.add(shopper, "moby-dick", 3)

    assert lines == [Line("moby-dick", 4), Line("dracula", 2)]
    assert await store.get(shopper) == lines


async def test_set_quantity_remove_and_clear(store: CartStore, shopper: str) -> None:
    await store.add(shopper, "moby-dick", 5)
    await store.add(shopper, "dracula", 1)

    assert await store.set_quantity(shopper, "moby-dick", 2) == [Line("moby-dick", 2), Line("dracula", 1)]
    assert await store.remove(shopper, "moby-dick") == [Line("dracula", 1)]
    assert await store.remove(shopper, "not-in-cart") == [Line("dracula", 1)]
    assert await store.clear(shopper) == []
    assert await store.get(shopper) == []


async def test_limits_refuse_and_leave_the_cart_unchanged(store: CartStore, shopper: str) -> None:
    await store.add(shopper, "moby-dick", 98)
    with pytest.raises(FailedPrecondition, match="at most 99 copies"):
        await store.add(shopper, "moby-dick", 2)
    with pytest.raises(FailedPrecondition, match="at most 99 copies"):
        await store.set_quantity(shopper, "moby-dick", 100)
    for n in range(4):
        await store.add(shopper, f"book-{n}", 1)
    with pytest.raises(FailedPrecondition, match="at most 5 different books"):
        await store.add(shopper, "one-too-many", 1)

    lines = await store.get(shopper)
    assert lines[0] == Line("moby-dick", 98)
    assert len(lines) == 5


async def test_concurrent_adds_lose_no_update(store: CartStore, shopper: str) -> None:
    await asyncio.gather(*(store.add(shopper, "moby-dick", 1) for _ in range(50)))

    assert await store.get(shopper) == [Line("moby-dick", 50)]


async def test_shoppers_do_not_see_each_other(store: CartStore) -> None:
    await store.add("anon-a", "moby-dick", 1)
    await store.add("anon-b", "dracula", 1)

    assert await store.get("anon-a") == [Line("moby-dick", 1)]
    assert await store.get("anon-b") == [Line("dracula", 1)]


async def test_the_sqlite_cart_survives_a_restart(tmp_path: Path, shopper: str) -> None:
    url = f"sqlite:///{tmp_path / 'cart.db'}"
    first = SqliteCartStore(url, LIMITS)
    await first.add(shopper, "moby-dick", 2)
    await first.close()

    reopened = SqliteCartStore(url, LIMITS)
    try:
        assert await reopened.get(shopper) == [Line("moby-dick", 2)]
    finally:
        await reopened.close()


async def test_redis_down_is_reported_as_the_cart_store_unavailable(shopper: str) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    store = RedisCartStore(f"redis://127.0.0.1:{closed}/0", LIMITS, ttl_seconds=60, timeout=0.5)
    try:
        with pytest.raises(Unavailable, match="cart store"):
            await store.get(shopper)
        with pytest.raises(Unavailable, match="cart store"):
            await store.add(shopper, "moby-dick", 1)
    finally:
        await store.close()
