import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from folio_platform.center import CenterSettings, open_center
from folio_platform.config import LiveSettings
from folio_platform.discovery import ServiceNotFound, StaticDiscovery
from folio_platform.grpc_server import GrpcServer
from folio_platform.registry import FileRegistry, Instance, RegistryDiscovery, ServiceChannel

SERVICE = "folio.test.v1.Reads"
StartServer = Callable[..., Awaitable[GrpcServer]]


def _named(name: bytes) -> Callable[[bytes, Any], Awaitable[bytes]]:
    async def handler(request: bytes, context: Any) -> bytes:
        return name

    return handler


async def test_a_registered_instance_is_found_with_its_metadata(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path)
    instance = Instance("catalog", "127.0.0.1", 50051, {"version": "1.2.3", "zone": "a"})
    await registry.register(instance)
    try:
        assert await registry.instances("catalog") == [instance]
        assert await registry.instances("cart") == []
    finally:
        await registry.close()


async def test_a_deregistered_instance_is_gone(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path)
    instance = Instance("catalog", "127.0.0.1", 50051)
    await registry.register(instance)
    await registry.deregister(instance)

    assert await registry.instances("catalog") == []


async def test_the_heartbeat_keeps_an_instance_and_its_absence_expires_it(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path, heartbeat_seconds=0.05, ttl_seconds=0.3)
    instance = Instance("catalog", "127.0.0.1", 50051)
    await registry.register(instance)
    await asyncio.sleep(0.5)
    assert await registry.instances("catalog") == [instance]  # kept alive past its ttl

    await registry.close()  # the process "dies": no more heartbeats, no deregistration
    await asyncio.sleep(0.4)

    assert await registry.instances("catalog") == []


async def test_discovery_prefers_the_registry_and_falls_back_to_static(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path)
    static = StaticDiscovery({"catalog": "127.0.0.1:1"})
    discovery = RegistryDiscovery(registry, static, ["catalog", "cart"], refresh_seconds=0.05)
    await discovery.start()
    try:
        assert discovery.resolve("catalog") == ["127.0.0.1:1"]
        await registry.register(Instance("catalog", "127.0.0.1", 7))
        await registry.register(Instance("catalog", "127.0.0.1", 8))
        await asyncio.sleep(0.2)
        assert discovery.resolve("catalog") == ["127.0.0.1:7", "127.0.0.1:8"]
        with pytest.raises(ServiceNotFound, match="'cart'"):
            discovery.resolve("cart")
    finally:
        await discovery.close()
        await registry.close()


async def test_a_service_channel_follows_instances_as_they_come_and_go(
    tmp_path: Path, start_server: StartServer
) -> None:
    first = await start_server(SERVICE, {"Who": _named(b"first")})
    second = await start_server(SERVICE, {"Who": _named(b"second")})
    registry = FileRegistry(tmp_path, heartbeat_seconds=0.05, ttl_seconds=0.5)
    discovery = RegistryDiscovery(registry, StaticDiscovery({}), ["reads"], refresh_seconds=0.05)
    await registry.register(Instance("reads", "127.0.0.1", first.port))
    await discovery.start()
    channel = ServiceChannel(discovery, "reads", refresh_seconds=0.05, drain_seconds=0.1)
    who = channel.unary_unary(f"/{SERVICE}/Who")
    try:
        assert {await who(b"") for _ in range(6)} == {b"first"}

        await registry.register(Instance("reads", "127.0.0.1", second.port))
        await asyncio.sleep(0.3)
        assert {await who(b"") for _ in range(10)} == {b"first", b"second"}

        await registry.deregister(Instance("reads", "127.0.0.1", first.port))
        await asyncio.sleep(0.3)
        assert {await who(b"") for _ in range(6)} == {b"second"}
    finally:
        await channel.close()
        await discovery.close()
        await registry.close()


async def test_open_center_embedded_registers_and_reads_live_settings(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "shared.yaml").write_text("flags: {catalog: {latency_ms: 250}}")
    settings = CenterSettings(config_dir=tmp_path / "config", registry_dir=tmp_path / "registry", zone="z1")
    async with open_center("catalog", settings) as center:
        assert center.config.current.flags.catalog.latency_ms == 250
        instance = center.instance("0.0.0.0", 50051)
        assert instance.host not in ("0.0.0.0", "")
        assert instance.metadata["zone"] == "z1"
        assert instance.metadata["version"] == "0.1.0"  # folio-catalog's package version
        assert await center.register(instance)
        assert center.registry is not None
        assert await center.registry.instances("catalog") == [instance]
        await center.deregister(instance)
        assert await center.registry.instances("catalog") == []


async def test_without_any_center_settings_nothing_is_opened() -> None:
    async with open_center("cart", CenterSettings()) as center:
        assert center.registry is None
        assert center.config.current == LiveSettings()
        assert await center.register(center.instance("127.0.0.1", 1)) is False


def test_an_instance_file_is_replaced_atomically(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path)

    async def run() -> None:
        await registry.register(Instance("cart", "127.0.0.1", 3))
        await registry.close()

    asyncio.run(run())
    assert [p.name for p in (tmp_path / "cart").iterdir()] == ["127.0.0.1_3.json"]
    assert time.time() - os.stat(tmp_path / "cart" / "127.0.0.1_3.json").st_mtime < 5
