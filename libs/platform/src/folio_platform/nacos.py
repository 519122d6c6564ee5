"""Nacos adapters (cluster): the config center and the service registry through nacos-sdk-python.

The SDK (3.x) is an asyncio gRPC client. Without a reachable server its `create_*_service`
blocks for about 9 s and then hands back a client that fails every call, so connecting is
bounded by `connect_timeout_seconds` and turned into ConfigUnavailable / RegistryUnavailable:
the service then runs on its defaults and its static addresses, and logs that Nacos is down.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from folio_platform.config import ConfigUnavailable
from folio_platform.registry import Instance, RegistryUnavailable

log = logging.getLogger(__name__)

# After a failed connection, lookups fail fast for this long before the next attempt.
RETRY_AFTER_SECONDS = 30.0


@dataclass(frozen=True)
class NacosOptions:
    server_addresses: str  # "nacos-0.nacos:8848,nacos-1.nacos:8848" (the SDK speaks gRPC on port + 1000)
    namespace: str = ""
    group: str = "FOLIO"
    username: str | None = None
    password: str | None = None
    connect_timeout_seconds: float = 3.0
    # The SDK writes a failover cache and its own logs; a read-only root filesystem needs a writable place.
    cache_dir: Path = Path("/tmp/folio-nacos")  # noqa: S108 - an emptyDir in the pod

    def client_config(self) -> Any:
        from v2.nacos import ClientConfigBuilder

        builder = (
            ClientConfigBuilder()
            .server_address(self.server_addresses)
            .namespace_id(self.namespace)
            .cache_dir(str(self.cache_dir / "cache"))
            .log_dir(str(self.cache_dir / "logs"))
            .log_level("WARNING")
            .timeout_ms(int(self.connect_timeout_seconds * 1000))
        )
        if self.username:
            builder = builder.username(self.username).password(self.password or "")
        return builder.build()


def data_id(document: str) -> str:
    """The Nacos data id of a config document: folio-<service>.yaml, folio-shared.yaml."""
    return f"folio-{document}.yaml"


async def _bounded[T](what: str, make: Awaitable[T], seconds: float, error: type[Exception]) -> T:
    try:
        return await asyncio.wait_for(make, seconds)
    except TimeoutError:
        raise error(
            f"Nacos {what} did not connect within {seconds:.1f} s: is the server reachable?"
        ) from None
    except Exception as failure:  # the SDK raises its own NacosException and plain errors alike
        raise error(f"Nacos {what} failed: {failure}") from None


class NacosConfigSource:
    """Config documents as Nacos data ids in one group; the server pushes changes to listeners."""

    def __init__(self, options: NacosOptions) -> None:
        self.options = options
        self.description = f"nacos:{options.server_addresses}/{options.namespace or 'public'}/{options.group}"
        self._client: Any = None
        self._listeners: list[tuple[str, Callable[..., Awaitable[None]]]] = []

    async def _service(self) -> Any:
        if self._client is None:
            from v2.nacos import NacosConfigService

            self._client = await _bounded(
                "config service",
                NacosConfigService.create_config_service(self.options.client_config()),
                self.options.connect_timeout_seconds,
                ConfigUnavailable,
            )
        return self._client

    async def read(self, document: str) -> str | None:
        from v2.nacos import ConfigParam

        client = await self._service()
        param = ConfigParam(data_id=data_id(document), group=self.options.group)
        text = await _bounded(
            "get_config", client.get_config(param), self.options.connect_timeout_seconds, ConfigUnavailable
        )
        return str(text) if text else None

    async def watch(self, documents: Sequence[str], changed: Callable[[], Awaitable[object]]) -> None:
        client = await self._service()

        async def listener(tenant: str, group: str, data_id: str, content: str) -> None:
            await changed()

        for document in documents:
            await client.add_listener(data_id(document), self.options.group, listener)
            self._listeners.append((data_id(document), listener))

    async def close(self) -> None:
        if self._client is not None:
            for name, listener in self._listeners:
                await self._client.remove_listener(name, self.options.group, listener)
            await self._client.shutdown()
            self._client = None


class NacosRegistry:
    """Ephemeral Nacos instances (the SDK keeps them alive over its gRPC connection)."""

    def __init__(self, options: NacosOptions) -> None:
        self.options = options
        self.description = f"nacos:{options.server_addresses}/{options.namespace or 'public'}/{options.group}"
        self._client: Any = None
        self._failed_at = -RETRY_AFTER_SECONDS

    async def _service(self) -> Any:
        if self._client is None:
            from v2.nacos import NacosNamingService

            # Down a moment ago: say so at once instead of making every lookup wait out the timeout.
            if time.monotonic() - self._failed_at < RETRY_AFTER_SECONDS:
                raise RegistryUnavailable(
                    f"Nacos at {self.options.server_addresses} was unreachable; retrying later"
                )

            try:
                self._client = await _bounded(
                    "naming service",
                    NacosNamingService.create_naming_service(self.options.client_config()),
                    self.options.connect_timeout_seconds,
                    RegistryUnavailable,
                )
            except RegistryUnavailable:
                self._failed_at = time.monotonic()
                raise
        return self._client

    async def register(self, instance: Instance) -> None:
        from v2.nacos import RegisterInstanceParam

        client = await self._service()
        param = RegisterInstanceParam(
            service_name=instance.service,
            group_name=self.options.group,
            ip=instance.host,
            port=instance.port,
            metadata=dict(instance.metadata),
            ephemeral=True,
        )
        await _bounded(
            "register_instance",
            client.register_instance(param),
            self.options.connect_timeout_seconds,
            RegistryUnavailable,
        )
        log.info("registered", extra={"registry": self.description, "instance": instance.address})

    async def deregister(self, instance: Instance) -> None:
        from v2.nacos import DeregisterInstanceParam

        client = await self._service()
        param = DeregisterInstanceParam(
            service_name=instance.service,
            group_name=self.options.group,
            ip=instance.host,
            port=instance.port,
            ephemeral=True,
        )
        await _bounded(
            "deregister_instance",
            client.deregister_instance(param),
            self.options.connect_timeout_seconds,
            RegistryUnavailable,
        )
        log.info("deregistered", extra={"registry": self.description, "instance": instance.address})

    async def instances(self, service: str) -> list[Instance]:
        from v2.nacos import ListInstanceParam

        client = await self._service()
        # subscribe=True: the first call subscribes, later ones read the cache the server pushes into.
        param = ListInstanceParam(
            service_name=service, group_name=self.options.group, subscribe=True, healthy_only=True
        )
        found = await _bounded(
            "list_instances",
            client.list_instances(param),
            self.options.connect_timeout_seconds,
            RegistryUnavailable,
        )
        return [Instance(service, i.ip, int(i.port), dict(i.metadata or {})) for i in found]

    async def close(self) -> None:
        if self._client is not None:
            await self._client.shutdown()
            self._client = None
