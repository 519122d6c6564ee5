"""Real in-process GrpcServers serving tiny bytes-in/bytes-out services whose handlers each test supplies."""

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
import pytest

from folio_platform.auth import PUBLIC, Access, TokenVerifier
from folio_platform.grpc_server import GrpcServer, ServerAuth
from folio_platform.telemetry import Telemetry
from folio_testing.issuer import TestIssuer

Handler = Callable[[bytes, Any], Awaitable[bytes]]


def _build(
    issuer: TestIssuer,
    service: str,
    handlers: Mapping[str, Handler],
    *,
    address: str = "127.0.0.1:0",
    grace_seconds: float = 5.0,
    access: Mapping[str, Access] | None = None,
    telemetry: Telemetry | None = None,
    reflection: bool = True,
) -> GrpcServer:
    """A server for `service`; its methods are public unless `access` ({method name: rule}) says otherwise."""

    def register(server: grpc.aio.Server) -> None:
        methods = {name: grpc.unary_unary_rpc_method_handler(fn) for name, fn in handlers.items()}
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, methods)])

    return GrpcServer(
        register=register,
        service_names=[service],
        address=address,
        telemetry=telemetry or Telemetry(enabled=False),
        auth=ServerAuth(
            TokenVerifier(issuer=issuer.url, audience="folio", refresh_seconds=0.0),
            {f"/{service}/{name}": (access or {}).get(name, PUBLIC) for name in handlers},
        ),
        grace_seconds=grace_seconds,
        reflection=reflection,
    )


@pytest.fixture
def build_server(issuer: TestIssuer) -> Callable[..., GrpcServer]:
    """`build_server(service, {method: handler}, address=..., grace_seconds=...)`: a GrpcServer, not started."""
    return lambda *args, **kwargs: _build(issuer, *args, **kwargs)


@pytest.fixture
async def start_server(issuer: TestIssuer) -> AsyncIterator[Callable[..., Awaitable[GrpcServer]]]:
    """Like build_server, but started on a free port; every one is stopped (without grace) afterwards."""
    servers: list[GrpcServer] = []

    async def start(service: str, handlers: Mapping[str, Handler], **options: Any) -> GrpcServer:
        server = _build(issuer, service, handlers, **options)
        servers.append(server)
        await server.start()
        return server

    yield start
    for server in servers:
        await server.server.stop(None)
