"""Service registry: instances register on start, deregister on stop, clients find the healthy ones.

`Registry` is the interface; `FileRegistry` is the embedded one (a directory of instance files
kept fresh by a heartbeat, so a killed instance drops out after `ttl_seconds`), `NacosRegistry`
(folio_platform.nacos) the cluster one. `RegistryDiscovery` answers `Discovery.resolve` from
the registry, refreshed in the background, and falls back to the static table when the
registry knows no instance. `ServiceChannel` is a gRPC channel that follows those answers.
"""

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import grpc

from folio_platform.discovery import Discovery, ServiceNotFound
from folio_platform.grpc_client import create_channel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Instance:
    """One running copy of a service, as the registry knows it."""

    service: str
    host: str
    port: int
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class RegistryUnavailable(RuntimeError):
    """The registry cannot be reached."""


class Registry(Protocol):
    description: str

    async def register(self, instance: Instance) -> None: ...

    async def deregister(self, instance: Instance) -> None: ...

    async def instances(self, service: str) -> list[Instance]:
        """The healthy instances of `service` (empty if none); RegistryUnavailable if unreachable."""
        ...

    async def close(self) -> None: ...


class FileRegistry:
    """Embedded registry: `<directory>/<service>/<host>_<port>.json`, touched every `heartbeat_seconds`.

    An instance whose file is older than `ttl_seconds` is unhealthy (its process died without
    deregistering), like an ephemeral Nacos instance that stopped sending heartbeats.
    """

    def __init__(self, directory: Path, *, heartbeat_seconds: float = 1.0, ttl_seconds: float = 3.0) -> None:
        self.directory = directory
        self.heartbeat_seconds = heartbeat_seconds
        self.ttl_seconds = ttl_seconds
        self.description = f"file:{directory}"
        self._heartbeats: dict[Path, asyncio.Task[None]] = {}

    def _path(self, instance: Instance) -> Path:
        return self.directory / instance.service / f"{instance.host}_{instance.port}.json"

    async def register(self, instance: Instance) -> None:
        path = self._path(instance)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"host": instance.host, "port": instance.port, "metadata": dict(instance.metadata)}
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(record))
        temporary.replace(path)  # atomic: a reader never sees half a file

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.heartbeat_seconds)
                with contextlib.suppress(FileNotFoundError):
                    os.utime(path)

        self._heartbeats[path] = asyncio.create_task(beat())
        log.info("registered", extra={"registry": self.description, "instance": instance.address})

    async def deregister(self, instance: Instance) -> None:
        path = self._path(instance)
        task = self._heartbeats.pop(path, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        path.unlink(missing_ok=True)
        log.info("deregistered", extra={"registry": self.description, "instance": instance.address})

    async def instances(self, service: str) -> list[Instance]:
        now = time.time()
        found = []
        for path in sorted((self.directory / service).glob("*.json")):
            try:
                if now - path.stat().st_mtime > self.ttl_seconds:
                    continue
                record = json.loads(path.read_text())
                found.append(
                    Instance(service, record["host"], int(record["port"]), record.get("metadata", {}))
                )
            except (OSError, ValueError, KeyError):
                continue  # removed or replaced while we looked: the next refresh sees it right
        return found

    async def close(self) -> None:
        for task in self._heartbeats.values():
            task.cancel()
        await asyncio.gather(*self._heartbeats.values(), return_exceptions=True)
        self._heartbeats.clear()


class RegistryDiscovery:
    """`Discovery` from a registry, refreshed every `refresh_seconds`; `fallback` when it knows none."""

    def __init__(
        self,
        registry: Registry,
        fallback: Discovery,
        services: Sequence[str],
        *,
        refresh_seconds: float = 0.5,
    ) -> None:
        self.registry = registry
        self.fallback = fallback
        self.services = list(services)
        self.refresh_seconds = refresh_seconds
        self._known: dict[str, list[str]] = {}
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        for service in self.services:
            try:
                addresses = sorted(i.address for i in await self.registry.instances(service))
            except RegistryUnavailable:
                continue  # keep what we knew: a registry outage must not become an outage of the shop
            if addresses != self._known.get(service):
                log.info("instances changed", extra={"callee": service, "instances": addresses})
                self._known[service] = addresses

    async def start(self) -> None:
        await self.refresh()

        async def loop() -> None:
            while True:
                await asyncio.sleep(self.refresh_seconds)
                try:
                    await self.refresh()
                except Exception:
                    log.exception("registry refresh failed")

        self._task = asyncio.create_task(loop())

    def resolve(self, service: str) -> list[str]:
        known = self._known.get(service)
        if known:
            return list(known)
        try:
            return self.fallback.resolve(service)
        except ServiceNotFound:
            raise ServiceNotFound(
                f"no instance of {service!r} registered in {self.registry.description}"
            ) from None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class _Follow:
    """A stub's callable for one method: each call goes through the owner's current channel."""

    def __init__(self, owner: "ServiceChannel", kind: str, method: str, args: dict[str, Any]) -> None:
        self.owner, self.kind, self.method, self.args = owner, kind, method, args
        self._bound: tuple[grpc.aio.Channel, Any] | None = None

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        channel = self.owner.current
        if self._bound is None or self._bound[0] is not channel:
            self._bound = (channel, getattr(channel, self.kind)(self.method, **self.args))
        return self._bound[1](request, **kwargs)


class ServiceChannel(grpc.aio.Channel):
    """A channel to every instance `discovery` resolves for `service`, following changes.

    Within one address set gRPC's round robin balances and skips an instance whose connection
    fails; when the set changes (an instance registered or expired) a new channel replaces the
    old one, which is closed after `drain_seconds` so calls in flight finish.
    """

    def __init__(
        self,
        discovery: Discovery,
        service: str,
        *,
        refresh_seconds: float = 0.5,
        drain_seconds: float = 5.0,
        **channel_options: Any,
    ) -> None:
        self.discovery = discovery
        self.service = service
        self.refresh_seconds = refresh_seconds
        self.drain_seconds = drain_seconds
        self.channel_options = channel_options
        self.addresses = discovery.resolve(service)
        self.current = create_channel(self.addresses, **channel_options)
        self._retired: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        with contextlib.suppress(RuntimeError):  # no running loop: a fixed channel (tests, tools)
            self._task = asyncio.get_running_loop().create_task(self._follow())

    def follow_now(self) -> None:
        """Re-resolve once, swapping the channel if the instances changed."""
        try:
            addresses = self.discovery.resolve(self.service)
        except ServiceNotFound:
            return  # keep the last channel: it may reconnect, and an error here helps nobody
        if addresses == self.addresses:
            return
        log.info("channel follows new instances", extra={"callee": self.service, "instances": addresses})
        old, self.current, self.addresses = (
            self.current,
            create_channel(addresses, **self.channel_options),
            addresses,
        )
        retire = asyncio.get_running_loop().create_task(old.close(grace=self.drain_seconds))
        self._retired.add(retire)
        retire.add_done_callback(self._retired.discard)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            self.follow_now()

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Follow(self, "unary_unary", method, _named(args, kwargs))

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Follow(self, "unary_stream", method, _named(args, kwargs))

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Follow(self, "stream_unary", method, _named(args, kwargs))

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Follow(self, "stream_stream", method, _named(args, kwargs))

    async def close(self, grace: float | None = None) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.current.close(grace)
        await asyncio.gather(*self._retired, return_exceptions=True)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self.current.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self.current.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self.current.channel_ready()

    async def __aenter__(self) -> "ServiceChannel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close(None)


def _named(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A multicallable's positional arguments (serializer, deserializer) by name."""
    names = ("request_serializer", "response_deserializer")
    return dict(zip(names, args, strict=False)) | kwargs
