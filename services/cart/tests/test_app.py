"""Settings pick the store: Redis when a URL is given, else the SQLite file in the data dir."""

from pathlib import Path

import pytest

from folio_cart.app import SERVICE_NAME, open_store
from folio_cart.settings import Settings
from folio_cart.store import Line, RedisCartStore, SqliteCartStore
from folio_platform.settings import load_settings
from folio_testing.plugin import RedisServer


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FOLIO_CART_PORT", "FOLIO_CART_REDIS_URL", "FOLIO_CART_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(Settings)

    assert (settings.port, settings.redis_url, settings.data_dir) == (50052, None, Path(".folio/data"))
    assert (settings.max_quantity, settings.max_lines, settings.ttl_days) == (99, 50, 30)
    assert SERVICE_NAME == "folio.cart.v1.CartService"


async def test_without_redis_the_cart_is_a_sqlite_file_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FOLIO_CART_REDIS_URL", raising=False)
    monkeypatch.setenv("FOLIO_CART_DATA_DIR", str(tmp_path / "fresh" / "data"))
    async with open_store(load_settings(Settings)) as store:
        assert isinstance(store, SqliteCartStore)
        await store.add("anon-1", "moby-dick", 1)
        assert (tmp_path / "fresh" / "data" / "cart.db").is_file()


@pytest.mark.redis
async def test_a_redis_url_selects_redis(monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer) -> None:
    monkeypatch.setenv("FOLIO_CART_REDIS_URL", redis_server.url)
    async with open_store(load_settings(Settings)) as store:
        assert isinstance(store, RedisCartStore)
        await store.clear("anon-app")
        assert await store.add("anon-app", "moby-dick", 2) == [Line("moby-dick", 2)]
