"""A small OTLP/gRPC receiver for tests: what services really export, collected over the wire.

No collector binary runs on these machines; this speaks the same protocol (the
`opentelemetry-proto` TraceService and MetricsService), so a service configured with
`OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:<port>` exports to it exactly as it would to
an OpenTelemetry Collector.
"""

import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, flattened: ids as hex, the exporting service from its resource."""

    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]


def _value(any_value: Any) -> Any:
    field = any_value.WhichOneof("value")
    return getattr(any_value, field) if field else None


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in key_values}


class OtlpReceiver(
    trace_service_pb2_grpc.TraceServiceServicer,
    metrics_service_pb2_grpc.MetricsServiceServicer,
):
    """Keeps every span and the names of metrics received, until `clear()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self._metrics: dict[str, set[str]] = {}
        self.port = 0
        self._server: grpc.Server | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        # opentelemetry-proto's generated gRPC modules carry no type hints.
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)  # type: ignore[no-untyped-call]
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, self._server)  # type: ignore[no-untyped-call]
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)

    def Export(self, request: Any, context: Any) -> Any:
        if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
            spans = [
                ReceivedSpan(
                    service=str(_attributes(rs.resource.attributes).get("service.name", "")),
                    name=span.name,
                    kind=span.kind,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(),
                    attributes=_attributes(span.attributes),
                )
                for rs in request.resource_spans
                for ss in rs.scope_spans
                for span in ss.spans
            ]
            with self._lock:
                self._spans.extend(spans)
            return trace_service_pb2.ExportTraceServiceResponse()
        with self._lock:
            for rm in request.resource_metrics:
                service = str(_attributes(rm.resource.attributes).get("service.name", ""))
                names = self._metrics.setdefault(service, set())
                names.update(metric.name for sm in rm.scope_metrics for metric in sm.metrics)
        return metrics_service_pb2.ExportMetricsServiceResponse()

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def metric_names(self, service: str) -> set[str]:
        with self._lock:
            return set(self._metrics.get(service, ()))

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()
            self._metrics.clear()

    def wait_for(
        self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float = 10.0
    ) -> list[ReceivedSpan]:
        """The spans received once `predicate(spans)` holds; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                listing = "\n".join(
                    f"  {s.service} kind={s.kind} {s.name} trace={s.trace_id[:8]} "
                    f"span={s.span_id[:8]} parent={s.parent_span_id[:8]}"
                    for s in spans
                )
                raise AssertionError(f"spans did not arrive within {timeout} s; got {len(spans)}:\n{listing}")
            time.sleep(0.1)
