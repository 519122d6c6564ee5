"""Traces across a gRPC hop: a sampled call is a client span in the caller and a server span under
it in the callee, one trace, with the RPC's attributes and status; a call the caller did not sample
carries that decision, so the callee records nothing either."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

from folio_platform import errors
from folio_platform.grpc_client import create_channel
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry

SERVICE = "folio.test.v1.Probe"


async def _ok(request: bytes, context: object) -> bytes:
    # The handler runs inside the server span, as the SQL it would run does.
    return trace.get_current_span().get_span_context().trace_id.to_bytes(16, "big")


async def _missing(request: bytes, context: object) -> bytes:
    raise errors.Unavailable("the database", "the database is down")


def _traced(sampler: object) -> tuple[Telemetry, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)  # type: ignore[arg-type]
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Telemetry(enabled=True, tracer_provider=provider), exporter


async def test_a_sampled_call_is_one_trace_across_the_hop(
    start_server: Callable[..., Awaitable[GrpcServer]],
) -> None:
    # The server follows its caller's decision (parent-based), as the chart's sampler does.
    server_telemetry, server_spans = _traced(ParentBased(ALWAYS_OFF))
    client_telemetry, client_spans = _traced(ALWAYS_ON)
    server = await start_server(SERVICE, {"Ok": _ok, "Down": _missing}, telemetry=server_telemetry)
    channel = create_channel([f"127.0.0.1:{server.port}"], telemetry=client_telemetry)
    try:
        seen_trace = await channel.unary_unary(f"/{SERVICE}/Ok")(b"x")
        with contextlib.suppress(grpc.aio.AioRpcError):
            await channel.unary_unary(f"/{SERVICE}/Down")(b"x")
        await channel.channel_ready()
        # A client span ends in a task the call's done-callback starts (it awaits the call's status):
        # shortly after the call, on a busy machine a few turns of the loop later.
        for _ in range(200):
            if len(client_spans.get_finished_spans()) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await channel.close()

    served = {s.name: s for s in server_spans.get_finished_spans()}
    called = {s.name: s for s in client_spans.get_finished_spans()}
    assert set(served) == set(called) == {f"/{SERVICE}/Ok", f"/{SERVICE}/Down"}
    for name, span in served.items():
        assert span.kind == trace.SpanKind.SERVER
        assert called[name].kind == trace.SpanKind.CLIENT
        assert span.context.trace_id == called[name].context.trace_id
        assert span.parent is not None
        assert span.parent.span_id == called[name].context.span_id
        assert span.attributes["rpc.service"] == SERVICE  # type: ignore[index]
    ok, down = served[f"/{SERVICE}/Ok"], served[f"/{SERVICE}/Down"]
    assert int.from_bytes(seen_trace, "big") == ok.context.trace_id
    assert ok.attributes["rpc.method"] == "Ok"  # type: ignore[index]
    assert ok.attributes["rpc.grpc.status_code"] == 0  # type: ignore[index]
    assert down.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]  # type: ignore[index]
    assert down.status.status_code == trace.StatusCode.ERROR
    assert (
        called[f"/{SERVICE}/Down"].attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    )  # type: ignore[index]
    # Every attribute and status, so that a cheaper way of setting them can neither drop nor add one.
    port = ok.attributes["net.peer.port"]  # type: ignore[index]
    assert isinstance(port, str)
    assert port.isdigit()
    assert dict(ok.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.service": SERVICE,
        "rpc.method": "Ok",
        "net.peer.ip": "127.0.0.1",
        "net.peer.port": port,
        "rpc.grpc.status_code": 0,
    }
    assert ok.status.status_code == trace.StatusCode.UNSET
    assert down.status.description == "StatusCode.UNAVAILABLE:the database is down"
    for method, code in (("Ok", grpc.StatusCode.OK), ("Down", grpc.StatusCode.UNAVAILABLE)):
        assert dict(called[f"/{SERVICE}/{method}"].attributes or {}) == {
            "rpc.system": "grpc",
            "rpc.service": SERVICE,
            "rpc.method": method,
            "rpc.grpc.status_code": code.value[0],
        }
    assert called[f"/{SERVICE}/Ok"].status.status_code == trace.StatusCode.UNSET
    assert called[f"/{SERVICE}/Down"].status.status_code == trace.StatusCode.ERROR
    assert called[f"/{SERVICE}/Down"].status.description == "the database is down"


async def test_a_call_the_caller_did_not_sample_is_not_recorded_but_keeps_its_trace(
    start_server: Callable[..., Awaitable[GrpcServer]],
) -> None:
    server_telemetry, server_spans = _traced(ParentBased(ALWAYS_ON))
    client_telemetry, client_spans = _traced(ALWAYS_OFF)
    server = await start_server(SERVICE, {"Ok": _ok}, telemetry=server_telemetry)
    channel = create_channel([f"127.0.0.1:{server.port}"], telemetry=client_telemetry)
    caller = client_telemetry.tracer_provider.get_tracer("test")  # type: ignore[union-attr]
    try:
        with caller.start_as_current_span("request") as request:
            seen_trace = await channel.unary_unary(f"/{SERVICE}/Ok")(b"x")
    finally:
        await channel.close()

    assert client_spans.get_finished_spans() == ()
    assert server_spans.get_finished_spans() == ()
    assert int.from_bytes(seen_trace, "big") == request.get_span_context().trace_id
