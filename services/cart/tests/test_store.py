"""One contract for every cart store: SQLite (embedded) and Redis (cluster), both real."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from folio_cart.store import CartStore, Limits, Line, RedisCartStore, SqliteCartStore
from folio_cart.tables import MIGRATIONS
from folio_platform.database import Database
from folio_platform.errors import FailedPrecondition, Unavailable
from folio_testing.plugin import RedisServer

LIMITS = Limits(max_quantity=99, max_lines=5)
# Far above an answer of the test's own redis-server on a busy machine (the default is 1 s).
REDIS_TIMEOUT = 10.0


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CartStore]:
    if request.param == "sqlite":
        with Database.open(f"sqlite:///{tmp_path / 'cart.db'}", MIGRATIONS) as database:
            yield SqliteCartStore(database, LIMITS)
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    redis_store = RedisCartStore(server.url, LIMITS, ttl_seconds=60, timeout=REDIS_TIMEOUT)
    yield redis_store
    await redis_store.close()


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


async def test_shoppers_do_not_see_each_other(store: CartStore, shopper: str) -> None:
    other = f"{shopper}-other"
    await store.add(shopper, "moby-dick", 1)
    await store.add(other, "dracula", 1)
    await store.clear(other)
    await store.add(other, "emma", 1)

    assert await store.get(shopper) == [Line("moby-dick", 1)]
    assert await store.get(other) == [Line("emma", 1)]


async def test_a_removed_book_added_again_goes_last(store: CartStore, shopper: str) -> None:
    for book in ("moby-dick", "dracula", "emma"):
        await store.add(shopper, book, 1)
    await store.remove(shopper, "moby-dick")

    assert await store.add(shopper, "moby-dick", 1) == [
        Line("dracula", 1),
        Line("emma", 1),
        Line("moby-dick", 1),
    ]


async def test_update_quantity_of_a_missing_book_creates_its_line(store: CartStore, shopper: str) -> None:
    await store.add(shopper, "dracula", 1)

    assert await store.set_quantity(shopper, "moby-dick", 3) == [Line("dracula", 1), Line("moby-dick", 3)]


async def test_the_sqlite_cart_survives_a_restart(tmp_path: Path, shopper: str) -> None:
    url = f"sqlite:///{tmp_path / 'cart.db'}"
    with Database.open(url, MIGRATIONS) as database:
        await SqliteCartStore(database, LIMITS).add(shopper, "moby-dick", 2)

    with Database.open(url, MIGRATIONS) as database:
        assert await SqliteCartStore(database, LIMITS).get(shopper) == [Line("moby-dick", 2)]


@pytest.mark.redis
async def test_redis_carts_expire_and_every_write_renews_them(
    redis_server: RedisServer, shopper: str
) -> None:
    store = RedisCartStore(redis_server.url, LIMITS, ttl_seconds=3600, timeout=REDIS_TIMEOUT)
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        await store.add(shopper, "moby-dick", 1)
        keys = [key async for key in raw.scan_iter(match=f"folio:cart:*{shopper}*")]
        assert keys
        for key in keys:
            await raw.expire(key, 5)

        await store.set_quantity(shopper, "moby-dick", 2)

        assert [await raw.ttl(key) > 3500 for key in keys] == [True] * len(keys)
    finally:
        await raw.aclose()
        await store.close()


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
