"""Traces and RED metrics of gRPC calls, at a cost that head sampling removes.

The spans and the metric are those of the standard grpc instrumentation and semantic conventions:
a server span and a client span named by the full method ("/pkg.Service/Method"), with
`rpc.system`, `rpc.service`, `rpc.method` and `rpc.grpc.status_code`; W3C trace context (or
whatever `OTEL_PROPAGATORS` names) in the call's metadata; `rpc.server.duration` in milliseconds
by service, method and status. What differs is the cost of a call that is not sampled: no handler
wrapped per call, no proxy around the servicer context, no client interceptor (grpc.aio sends
every call of a channel with one through a slower path, a task per call), attributes and status
set only on a recording span, and the metric's attributes built once per method and status. Such a
call pays the propagation (extract on the way in, inject on the way out), the SDK's sampling
decision and one histogram measurement.
"""

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

# Server-side, these codes are the server's fault (the semantic conventions' rule); the others are
# answers the caller provoked (NOT_FOUND, INVALID_ARGUMENT, ...) and leave the span's status unset.
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def _split(method: str) -> tuple[str, str]:
    service, _, name = method.lstrip("/").partition("/")
    return service, name


def _rpc_attributes(method: str) -> dict[str, Any]:
    service, name = _split(method)
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


def _peer_attributes(peer: str) -> dict[str, Any]:
    """net.peer.* from a gRPC peer string ("ipv4:127.0.0.1:57284", "ipv6:[::1]:57284")."""
    if peer.startswith("unix:") or ":" not in peer:
        return {}
    host, _, port = peer.split(",")[0].split(":", 1)[1].rpartition(":")
    return {"net.peer.ip": host.strip("[]"), "net.peer.port": port}


class _Carrier:
    """Metadata seen as a propagation carrier (keys are lower case in gRPC metadata)."""

    __slots__ = ("items",)

    def __init__(self, items: Sequence[tuple[str, Any]]) -> None:
        self.items = items

    def get(self, carrier: "_Carrier", key: str) -> list[str] | None:
        found = [value for k, value in carrier.items if k == key and isinstance(value, str)]
        return found or None

    def keys(self, carrier: "_Carrier") -> list[str]:
        return [k for k, _ in carrier.items]


class RpcServerTelemetry:
    """One server's spans and `rpc.server.duration`; `observe` wraps each served call."""

    def __init__(
        self, tracer_provider: trace.TracerProvider | None, meter_provider: MeterProvider | None
    ) -> None:
        self.tracer = (
            trace.get_tracer("folio_platform.grpc_server", tracer_provider=tracer_provider)
            if tracer_provider is not None
            else None
        )
        self.duration = (
            metrics.get_meter("folio_platform.grpc_server", meter_provider=meter_provider).create_histogram(
                "rpc.server.duration", unit="ms", description="Duration of inbound RPCs, by method and status"
            )
            if meter_provider is not None
            else None
        )
        # (method, status) -> the metric's attributes: built once, reused by every call.
        self._attributes: dict[tuple[str, grpc.StatusCode], dict[str, Any]] = {}

    def observe(self, method: str, context: Any, metadata: Sequence[tuple[str, Any]]) -> "ObservedCall":
        return ObservedCall(self, method, context, metadata)

    def attributes(self, method: str, code: grpc.StatusCode) -> dict[str, Any]:
        found = self._attributes.get((method, code))
        if found is None:
            found = self._attributes[(method, code)] = _rpc_attributes(method) | {
                "rpc.grpc.status_code": code.value[0]
            }
        return found


class ObservedCall:
    """A served call: its span current while the handler runs, its duration recorded with the
    status it ended with (an exception's, the context's, else OK)."""

    __slots__ = ("_context", "_metadata", "_method", "_span", "_started", "_telemetry", "_token")

    def __init__(
        self, telemetry: RpcServerTelemetry, method: str, context: Any, metadata: Sequence[tuple[str, Any]]
    ) -> None:
        self._telemetry, self._method, self._context, self._metadata = telemetry, method, context, metadata
        self._span: trace.Span | None = None
        self._token: object = None

    def __enter__(self) -> None:
        tracer = self._telemetry.tracer
        if tracer is not None:
            carrier = _Carrier(self._metadata)
            parent = propagate.extract(carrier, getter=carrier)  # type: ignore[arg-type]
            span = self._span = tracer.start_span(self._method, parent, kind=SpanKind.SERVER)
            if span.is_recording():
                span.set_attributes(_rpc_attributes(self._method))
                span.set_attributes(_peer_attributes(self._context.peer()))
            self._token = otel_context.attach(trace.set_span_in_context(span, parent))
        self._started = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        elapsed_ms = (time.perf_counter() - self._started) * 1000
        context = self._context
        if error is None:
            code = context.code() or grpc.StatusCode.OK
        elif isinstance(error, (asyncio.CancelledError, GeneratorExit)):
            # Cancelled, or a response stream closed before its end because its caller went away.
            code = grpc.StatusCode.CANCELLED
        else:
            # An abort carries its code in the context; anything else reaches the caller as UNKNOWN.
            code = getattr(error, "code", None)
            if not isinstance(code, grpc.StatusCode):
                code = context.code() or grpc.StatusCode.UNKNOWN
        telemetry = self._telemetry
        if telemetry.duration is not None:
            telemetry.duration.record(elapsed_ms, telemetry.attributes(self._method, code))
        span = self._span
        if span is not None:
            if span.is_recording():
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code in _SERVER_ERRORS:
                    span.set_status(Status(StatusCode.ERROR, f"{code}:{context.details() or ''}"))
                if error is not None and code == grpc.StatusCode.UNKNOWN:
                    span.record_exception(error)
                span.end()
            otel_context.detach(self._token)  # type: ignore[arg-type]


class _MetadataSetter:
    def set(self, carrier: list[tuple[str, str]], key: str, value: str) -> None:
        carrier.append((key.lower(), value))


_SETTER = _MetadataSetter()


class RpcClientTelemetry:
    """Client spans and trace-context propagation for one channel, without an interceptor."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer("folio_platform.grpc_client", tracer_provider=tracer_provider)
        # Tasks that end client spans, kept until they finish (the loop holds tasks only weakly).
        self._ending: set[asyncio.Task[None]] = set()

    def start(self, method: str, metadata: Any) -> tuple[trace.Span, list[tuple[str, str]]]:
        """The call's client span (a child of the current one) and its metadata with the context."""
        span = self.tracer.start_span(method, kind=SpanKind.CLIENT)
        if span.is_recording():
            span.set_attributes(_rpc_attributes(method))
        carrier = list(metadata or ())
        propagate.inject(carrier, context=trace.set_span_in_context(span), setter=_SETTER)  # type: ignore[arg-type]
        return span, carrier

    def finish(self, span: trace.Span, call: Any) -> None:
        """End a recording span once `call` is done, with the status it ended with."""
        if not span.is_recording():
            return
        ended = time.time_ns()

        async def end() -> None:
            code = await call.code()
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code != grpc.StatusCode.OK:
                span.set_status(Status(StatusCode.ERROR, await call.details()))
            span.end(end_time=ended)

        def done(_call: Any) -> None:
            nonlocal ended
            ended = time.time_ns()
            task = asyncio.ensure_future(end())
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)

        call.add_done_callback(done)
