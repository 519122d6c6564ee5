"""RED per RPC: every call a server answers is one rpc.server.duration measurement labelled with its
method and the status it ended with; health checks are not counted."""

import contextlib
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from folio_platform import errors
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry

SERVICE = "folio.test.v1.Probe"


async def _ok(request: bytes, context: object) -> bytes:
    return request


async def _not_found(request: bytes, context: object) -> bytes:
    raise errors.NotFound("no such book")


async def _aborts(request: bytes, context: grpc.aio.ServicerContext) -> bytes:  # type: ignore[type-arg]
    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down")
    return b""


async def _crashes(request: bytes, context: object) -> bytes:
    raise RuntimeError("a bug")


async def test_each_call_is_measured_with_its_method_and_status(
    start_server: Callable[..., Awaitable[GrpcServer]],
) -> None:
    reader = InMemoryMetricReader()
    telemetry = Telemetry(enabled=True, meter_provider=MeterProvider(metric_readers=[reader]))
    handlers = {"Ok": _ok, "Missing": _not_found, "Aborts": _aborts, "Crashes": _crashes}
    server = await start_server(SERVICE, handlers, telemetry=telemetry)

    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        for name in ["Ok", "Ok", *handlers]:
            with contextlib.suppress(grpc.aio.AioRpcError):
                await channel.unary_unary(f"/{SERVICE}/{name}")(b"x", timeout=5)
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)

    data = reader.get_metrics_data()
    assert data is not None
    points = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "rpc.server.duration"
        for point in metric.data.data_points  # type: ignore[union-attr]
    ]
    counts = {
        (p.attributes["rpc.method"], p.attributes["rpc.grpc.status_code"]): p.count  # type: ignore[attr-defined,index]
        for p in points
    }
    assert counts == {
        ("Ok", grpc.StatusCode.OK.value[0]): 3,
        ("Missing", grpc.StatusCode.NOT_FOUND.value[0]): 1,
        ("Aborts", grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]): 1,
        ("Crashes", grpc.StatusCode.UNKNOWN.value[0]): 1,
    }
    assert all(p.attributes["rpc.service"] == SERVICE for p in points)  # type: ignore[index]
    assert all(p.attributes["rpc.system"] == "grpc" for p in points)  # type: ignore[index]
