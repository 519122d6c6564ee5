import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from folio_platform import errors
from folio_platform.auth import PUBLIC
from folio_platform.deadlines import time_remaining
from folio_platform.grpc_server import FolioServerInterceptor, GrpcServer
from folio_testing.issuer import TestIssuer

PROBE_SERVICE = "folio.test.v1.Probe"
HEALTH_SERVICE = "grpc.health.v1.Health"
StartServer = Callable[..., Awaitable[GrpcServer]]
BuildServer = Callable[..., GrpcServer]


def method(name: str) -> str:
    return f"/{PROBE_SERVICE}/{name}"


def _channel(port: int) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(f"127.0.0.1:{port}")


async def _raise(error: Exception) -> bytes:
    raise error


async def _echo(request: bytes, context: object) -> bytes:
    return request


async def test_calls_reach_the_registered_handler(start_server: StartServer) -> None:
    server = await start_server(PROBE_SERVICE, {"Echo": _echo})

    async with _channel(server.port) as channel:
        reply = await channel.unary_unary(method("Echo"))(b"hello", timeout=5)

    assert reply == b"hello"
    assert server.port > 0


async def test_invalid_argument_reaches_the_client_with_the_field(start_server: StartServer) -> None:
    async def handler(request: bytes, context: object) -> bytes:
        return await _raise(errors.InvalidArgument("page_size", "must be between 1 and 100"))

    server = await start_server(PROBE_SERVICE, {"Call": handler})

    async with _channel(server.port) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as excinfo:
            await channel.unary_unary(method("Call"))(b"", timeout=5)

    assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert excinfo.value.details() == "page_size: must be between 1 and 100"
    assert errors.field_violations(excinfo.value) == [("page_size", "must be between 1 and 100")]


@pytest.mark.parametrize(
    ("error", "code", "details"),
    [
        (errors.NotFound("no book with id 'b-9'"), grpc.StatusCode.NOT_FOUND, "no book with id 'b-9'"),
        (errors.Unavailable("postgres"), grpc.StatusCode.UNAVAILABLE, "postgres is unavailable"),
        (
            errors.Unavailable("qdrant", "vector search is down"),
            grpc.StatusCode.UNAVAILABLE,
            "vector search is down",
        ),
        (
            errors.FailedPrecondition("catalog is read-only"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "catalog is read-only",
        ),
    ],
)
async def test_folio_errors_become_their_status(
    start_server: StartServer, error: errors.FolioError, code: grpc.StatusCode, details: str
) -> None:
    async def handler(request: bytes, context: object) -> bytes:
        return await _raise(error)

    server = await start_server(PROBE_SERVICE, {"Call": handler})

    async with _channel(server.port) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as excinfo:
            await channel.unary_unary(method("Call"))(b"", timeout=5)

    assert excinfo.value.code() == code
    assert excinfo.value.details() == details
    assert errors.field_violations(excinfo.value) == []


async def test_health_reports_serving_for_the_server_and_its_services(start_server: StartServer) -> None:
    server = await start_server(PROBE_SERVICE, {"Echo": _echo})

    async with _channel(server.port) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        overall = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        probe = await health.Check(health_pb2.HealthCheckRequest(service=PROBE_SERVICE), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as excinfo:
            await health.Check(health_pb2.HealthCheckRequest(service="folio.nope.v1.Nope"), timeout=5)

    assert overall.status == health_pb2.HealthCheckResponse.SERVING
    assert probe.status == health_pb2.HealthCheckResponse.SERVING
    assert excinfo.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_turns_not_serving_when_stop_begins(start_server: StartServer) -> None:
    server = await start_server(PROBE_SERVICE, {"Echo": _echo}, grace_seconds=0.5)

    async with _channel(server.port) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=PROBE_SERVICE), timeout=10
        )
        first = await watch.read()
        stopping = asyncio.create_task(server.stop())
        second = await asyncio.wait_for(watch.read(), timeout=5)
        watch.cancel()
        await asyncio.wait_for(stopping, timeout=5)

        with pytest.raises(grpc.aio.AioRpcError) as excinfo:
            await channel.unary_unary(method("Echo"))(b"", timeout=2)

    assert first.status == health_pb2.HealthCheckResponse.SERVING
    assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert excinfo.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_graceful_stop_lets_an_in_flight_call_finish(start_server: StartServer) -> None:
    entered = asyncio.Event()

    async def slow(request: bytes, context: object) -> bytes:
        entered.set()
        await asyncio.sleep(0.5)
        return b"finished"

    server = await start_server(PROBE_SERVICE, {"Slow": slow}, grace_seconds=5.0)

    async with _channel(server.port) as channel:
        call = asyncio.ensure_future(channel.unary_unary(method("Slow"))(b"", timeout=10))
        await asyncio.wait_for(entered.wait(), timeout=5)
        started = time.monotonic()
        await server.stop()
        stop_took = time.monotonic() - started
        reply = await call

    assert reply == b"finished"
    assert stop_took < 4.0, "stop must return once the last call is done, not wait out the grace"


async def test_stop_cuts_off_calls_that_outlast_the_grace(start_server: StartServer) -> None:
    entered = asyncio.Event()

    async def stuck(request: bytes, context: object) -> bytes:
        entered.set()
        await asyncio.sleep(30)
        return b"never"

    server = await start_server(PROBE_SERVICE, {"Stuck": stuck}, grace_seconds=0.2)

    async with _channel(server.port) as channel:
        call = asyncio.ensure_future(channel.unary_unary(method("Stuck"))(b"", timeout=20))
        await asyncio.wait_for(entered.wait(), timeout=5)
        started = time.monotonic()
        await server.stop()
        stop_took = time.monotonic() - started
        with pytest.raises(grpc.aio.AioRpcError):
            await call

    assert stop_took < 3.0


async def test_handler_sees_the_callers_deadline(start_server: StartServer) -> None:
    async def remaining(request: bytes, context: object) -> bytes:
        return repr(time_remaining()).encode()

    server = await start_server(PROBE_SERVICE, {"Remaining": remaining})

    async with _channel(server.port) as channel:
        bounded = float(await channel.unary_unary(method("Remaining"))(b"", timeout=2))
        unbounded = await channel.unary_unary(method("Remaining"))(b"")

    # The grpc-timeout header carries the budget rounded up to its unit, so a few ms over 2 s can arrive.
    assert 0 < bounded <= 2.05
    assert bounded > 1, "most of the caller's two seconds should be left on arrival"
    assert unbounded == b"None"


async def test_the_handlers_deadline_does_not_leak_between_calls(start_server: StartServer) -> None:
    async def remaining(request: bytes, context: object) -> bytes:
        return repr(time_remaining()).encode()

    server = await start_server(PROBE_SERVICE, {"Remaining": remaining})

    async with _channel(server.port) as channel:
        stub = channel.unary_unary(method("Remaining"))
        await stub(b"", timeout=0.5)
        after = await stub(b"")

    assert after == b"None"
    assert time_remaining() is None


async def test_binding_a_port_in_use_raises_oserror(build_server: BuildServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(OSError, match=str(port)):
            build_server(PROBE_SERVICE, {"Echo": _echo}, address=f"127.0.0.1:{port}")


async def test_a_second_server_on_the_same_port_is_refused(
    start_server: StartServer, build_server: BuildServer
) -> None:
    first = await start_server(PROBE_SERVICE, {"Echo": _echo})

    with pytest.raises(OSError, match=str(first.port)):
        build_server(PROBE_SERVICE, {"Echo": _echo}, address=f"127.0.0.1:{first.port}")


async def test_reflection_lists_the_registered_services(start_server: StartServer) -> None:
    server = await start_server(PROBE_SERVICE, {"Echo": _echo})

    async with _channel(server.port) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = [
            service.name
            async for response in responses
            for service in response.list_services_response.service
        ]

    assert PROBE_SERVICE in names
    assert HEALTH_SERVICE in names
    assert "grpc.reflection.v1alpha.ServerReflection" in names


async def test_reflection_can_be_switched_off(start_server: StartServer) -> None:
    server = await start_server(PROBE_SERVICE, {"Echo": _echo}, reflection=False)

    async with _channel(server.port) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            _ = [response async for response in responses]
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)

    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_made_up_method_names_are_answered_unimplemented_and_not_remembered(issuer: TestIssuer) -> None:
    interceptor = FolioServerInterceptor(issuer.server_auth({method("Echo"): PUBLIC}))
    served = grpc.unary_unary_rpc_method_handler(_echo)

    async def continuation(details: Any) -> grpc.RpcMethodHandler | None:
        return served if details.method == method("Echo") else None

    for n in range(1000):
        details = SimpleNamespace(method=f"/{PROBE_SERVICE}/Invented{n}", invocation_metadata=())
        assert await interceptor.intercept_service(continuation, details) is None
    known = SimpleNamespace(method=method("Echo"), invocation_metadata=())
    first = await interceptor.intercept_service(continuation, known)

    assert first is not None
    assert await interceptor.intercept_service(continuation, known) is first
    assert list(interceptor._wrapped) == [method("Echo")]


async def test_an_unknown_method_on_a_live_server_is_unimplemented(start_server: StartServer) -> None:
    server = await start_server(PROBE_SERVICE, {"Echo": _echo})

    async with _channel(server.port) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await channel.unary_unary(method("Invented"))(b"", timeout=5)

    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
