"""The platform runs a declared service: its resources open first, it serves and registers, and on
SIGTERM it deregisters, drains and closes its resources."""

import asyncio
import gc
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic_settings import SettingsConfigDict

from folio_platform.auth import PUBLIC, AuthSettings
from folio_platform.center import CenterSettings
from folio_platform.registry import FileRegistry
from folio_platform.service import Runtime, Servicer, ServiceSpec, Serving, serve_service
from folio_platform.settings import GrpcServiceSettings
from folio_testing.issuer import TestIssuer

SERVICE = "folio.test.v1.EchoService"


class EchoSettings(GrpcServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_ECHO_")


def _echo_spec(events: list[str]) -> ServiceSpec[EchoSettings]:
    @asynccontextmanager
    async def resources(runtime: Runtime[EchoSettings]) -> AsyncIterator[Serving]:
        events.append(f"opened with live config from {runtime.center.service}")

        async def echo(request: bytes, _context: Any) -> bytes:
            return request

        def register(server: grpc.aio.Server) -> None:
            handler = grpc.unary_unary_rpc_method_handler(echo)
            server.add_generic_rpc_handlers(
                [grpc.method_handlers_generic_handler(SERVICE, {"Echo": handler})]
            )

        try:
            yield Serving(servicers=[Servicer(SERVICE, register)])
        finally:
            events.append("closed")

    return ServiceSpec(
        name="echo", settings=EchoSettings, access={f"/{SERVICE}/Echo": PUBLIC}, resources=resources
    )


async def _registered(registry: FileRegistry) -> list[str]:
    return [instance.address for instance in await registry.instances("echo")]


async def _address(registry: FileRegistry) -> str:
    """The service's address once it has registered (it registers only once it serves)."""
    for _ in range(200):
        if found := await _registered(registry):
            [address] = found
            return address
        await asyncio.sleep(0.05)
    raise AssertionError("the service never registered")


async def test_a_declared_service_serves_registers_and_stops_cleanly(
    tmp_path: Path, issuer: TestIssuer
) -> None:
    events: list[str] = []
    settings = EchoSettings(port=0, data_dir=tmp_path, shutdown_grace_seconds=1)
    center = CenterSettings(registry_dir=tmp_path / "registry", config_dir=tmp_path / "config")
    frozen = gc.get_freeze_count()
    running = asyncio.create_task(
        serve_service(_echo_spec(events), settings, AuthSettings(issuer_url=issuer.url), center)
    )
    registry = FileRegistry(tmp_path / "registry")
    try:
        address = await _address(registry)
        async with grpc.aio.insecure_channel(address) as channel:
            echoed = await channel.unary_unary(f"/{SERVICE}/Echo")(b"hello", timeout=5)
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=5
            )
        assert echoed == b"hello"
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert events == ["opened with live config from echo"]

        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(running, 10)
    finally:
        running.cancel()
        await registry.close()

    assert await _registered(registry) == []
    assert events[-1] == "closed"
    # Served inside another program (here pytest), a service leaves that program's heap alone:
    # only a service that is its process's main settles it (`run_service`).
    assert gc.get_freeze_count() == frozen


async def test_a_service_without_a_rule_for_an_rpc_refuses_it(tmp_path: Path, issuer: TestIssuer) -> None:
    spec = _echo_spec([])
    unruled = ServiceSpec(name=spec.name, settings=spec.settings, access={}, resources=spec.resources)
    settings = EchoSettings(port=0, data_dir=tmp_path)
    center = CenterSettings(registry_dir=tmp_path / "registry")
    running = asyncio.create_task(
        serve_service(unruled, settings, AuthSettings(issuer_url=issuer.url), center)
    )
    registry = FileRegistry(tmp_path / "registry")
    try:
        address = await _address(registry)
        async with grpc.aio.insecure_channel(address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await channel.unary_unary(f"/{SERVICE}/Echo")(b"hello", timeout=5)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(running, 10)
    finally:
        running.cancel()
        await registry.close()


async def _reflected_services(address: str) -> list[str] | grpc.StatusCode:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        try:
            return [
                service.name
                async for response in stub.ServerReflectionInfo(iter([request]), timeout=5)
                for service in response.list_services_response.service
            ]
        except grpc.aio.AioRpcError as error:
            return error.code()


@pytest.mark.parametrize("environment", ["development", "production"])
async def test_reflection_is_served_except_in_production(
    tmp_path: Path, issuer: TestIssuer, environment: str
) -> None:
    settings = EchoSettings(port=0, data_dir=tmp_path, shutdown_grace_seconds=0)
    center = CenterSettings(registry_dir=tmp_path / "registry", environment=environment)
    running = asyncio.create_task(
        serve_service(_echo_spec([]), settings, AuthSettings(issuer_url=issuer.url), center)
    )
    registry = FileRegistry(tmp_path / "registry")
    try:
        reflected = await _reflected_services(await _address(registry))
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(running, 10)
    finally:
        running.cancel()
        await registry.close()

    if environment == "production":
        assert reflected == grpc.StatusCode.UNIMPLEMENTED
    else:
        assert isinstance(reflected, list)
        assert SERVICE in reflected
