"""One contract for every session store: SQLite (embedded) and Redis (cluster), both real."""

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from folio_storefront.session_store import (
    Expiry,
    RedisSessionStore,
    SessionStore,
    SessionStoreUnavailable,
    SqliteSessionStore,
)
from folio_testing.plugin import RedisServer, free_port

EXPIRY = Expiry(idle_seconds=600, absolute_seconds=3600)


class Clock:
    """Wall time plus whatever the test has skipped ahead."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> AsyncIterator[SessionStore]:
    if request.param == "sqlite":
        opened: SessionStore = await asyncio.to_thread(
            SqliteSessionStore, f"sqlite:///{tmp_path / 'sessions.db'}", EXPIRY, clock=clock
        )
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        # A timeout far above an answer of the test's own redis-server on a busy machine (default 1 s).
        opened = RedisSessionStore(server.url, EXPIRY, clock=clock, timeout=10.0)
    yield opened
    await opened.close()


def new_id() -> str:
    return secrets.token_urlsafe(32)


async def test_an_unknown_session_loads_as_none(store: SessionStore) -> None:
    assert await store.load(new_id()) is None


async def test_save_creates_then_merges_changed_keys(store: SessionStore) -> None:
    sid = new_id()
    await store.save(sid, {"shopper": "anon-1", "after_signin": "/cart"})
    await store.save(sid, {"user": {"sub": "alice", "roles": ["customer"]}}, ["after_signin"])

    loaded = await store.load(sid)

    assert loaded is not None
    assert loaded.data == {"shopper": "anon-1", "user": {"sub": "alice", "roles": ["customer"]}}


async def test_two_requests_changing_different_keys_both_land(store: SessionStore) -> None:
    sid = new_id()
    await store.save(sid, {"a": 0})
    await asyncio.gather(*(store.save(sid, {f"k{n}": n}) for n in range(20)))

    loaded = await store.load(sid)

    assert loaded is not None
    assert loaded.data == {"a": 0} | {f"k{n}": n for n in range(20)}


async def test_sessions_do_not_see_each_other(store: SessionStore) -> None:
    one, two = new_id(), new_id()
    await store.save(one, {"shopper": "anon-1"})
    await store.save(two, {"shopper": "anon-2"})

    assert (await store.load(one)).data == {"shopper": "anon-1"}  # type: ignore[union-attr]
    assert (await store.load(two)).data == {"shopper": "anon-2"}  # type: ignore[union-attr]


async def test_an_idle_session_expires_and_touching_it_keeps_it(store: SessionStore, clock: Clock) -> None:
    kept, idle = new_id(), new_id()
    await store.save(kept, {"shopper": "anon-kept"})
    await store.save(idle, {"shopper": "anon-idle"})

    clock.advance(EXPIRY.idle_seconds - 60)
    await store.touch(kept)
    clock.advance(120)

    assert await store.load(idle) is None
    assert await store.load(kept) is not None


async def test_every_session_ends_at_its_absolute_limit(store: SessionStore, clock: Clock) -> None:
    sid = new_id()
    await store.save(sid, {"shopper": "anon-1"})
    for _ in range(int(EXPIRY.absolute_seconds // 300)):
        clock.advance(300)
        await store.touch(sid)

    assert await store.load(sid) is None


async def test_delete_ends_a_session(store: SessionStore) -> None:
    sid = new_id()
    await store.save(sid, {"shopper": "anon-1"})

    await store.delete(sid)

    assert await store.load(sid) is None


async def test_a_provider_session_ends_every_session_signed_in_under_it(store: SessionStore) -> None:
    laptop, phone, other = new_id(), new_id(), new_id()
    await store.save(laptop, {"user": {"sub": "alice"}}, provider_session="https://idp sid-1")
    await store.save(phone, {"user": {"sub": "alice"}}, provider_session="https://idp sid-1")
    await store.save(other, {"user": {"sub": "bob"}}, provider_session="https://idp sid-2")

    assert await store.end_provider_session("https://idp sid-1") == 2
    assert await store.end_provider_session("https://idp sid-1") == 0

    assert await store.load(laptop) is None
    assert await store.load(phone) is None
    assert await store.load(other) is not None


async def test_a_lease_has_one_holder_until_released_or_lapsed(store: SessionStore, clock: Clock) -> None:
    first = await store.acquire("refresh:s1", ttl_seconds=0.3)
    assert first is not None
    assert await store.acquire("refresh:s1", ttl_seconds=0.3) is None
    assert await store.acquire("refresh:s2", ttl_seconds=0.3) is not None

    await store.release("refresh:s1", "not-the-holder")
    assert await store.acquire("refresh:s1", ttl_seconds=0.3) is None
    await store.release("refresh:s1", first)
    second = await store.acquire("refresh:s1", ttl_seconds=0.3)
    assert second is not None

    # A holder that died: its lease lapses (Redis counts real time, SQLite the store's clock).
    clock.advance(0.4)
    await asyncio.sleep(0.4)
    assert await store.acquire("refresh:s1", ttl_seconds=0.3) is not None


async def test_prune_leaves_only_live_sessions(store: SessionStore, clock: Clock) -> None:
    stale, live = new_id(), new_id()
    await store.save(stale, {"shopper": "anon-stale"})
    clock.advance(EXPIRY.idle_seconds - 10)
    await store.save(live, {"shopper": "anon-live"})
    clock.advance(20)

    await store.prune()

    assert await store.load(stale) is None
    assert await store.load(live) is not None


async def test_sqlite_prune_deletes_the_expired_rows(tmp_path: Path, clock: Clock) -> None:
    store = await asyncio.to_thread(
        SqliteSessionStore, f"sqlite:///{tmp_path / 'sessions.db'}", EXPIRY, clock=clock
    )
    try:
        for _ in range(3):
            await store.save(new_id(), {"shopper": "anon"})
        clock.advance(EXPIRY.idle_seconds + 1)
        await store.save(new_id(), {"shopper": "anon-live"})

        assert await store.prune() == 3
        assert await store.prune() == 0
    finally:
        await store.close()


async def test_redis_down_is_reported_as_unavailable() -> None:
    store = RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0", EXPIRY, timeout=0.5)
    try:
        with pytest.raises(SessionStoreUnavailable):
            await store.load(new_id())
        with pytest.raises(SessionStoreUnavailable):
            await store.save(new_id(), {"shopper": "anon"})
    finally:
        await store.close()
