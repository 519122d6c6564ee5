"""OpenTelemetry setup, driven only by the standard `OTEL_*` variables.

Off unless an exporter is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`, a signal-specific
endpoint, or `OTEL_TRACES_EXPORTER`/`OTEL_METRICS_EXPORTER`); `OTEL_SDK_DISABLED=true` wins.
When off, the API's no-op providers stay in place and no instrumentation is installed,
so an unobserved laptop run pays nothing.
"""

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

log = logging.getLogger(__name__)


@dataclass
class Telemetry:
    """What `configure_telemetry` set up; `enabled` tells services whether to instrument."""

    enabled: bool
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    exporters: list[str] = field(default_factory=list)

    def shutdown(self) -> None:
        """Flush what is buffered; call once on the way out."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def _exporter_names(env: Mapping[str, str], signal: str) -> list[str]:
    explicit = env.get(f"OTEL_{signal}_EXPORTER")
    if explicit is not None:
        return [name.strip() for name in explicit.split(",") if name.strip() and name.strip() != "none"]
    # A signal-specific endpoint turns on only its own signal.
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    return ["otlp"] if any(env.get(v) for v in endpoints) else []


def _otlp_is_grpc(env: Mapping[str, str]) -> bool:
    return env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc") == "grpc"


def _span_exporter(name: str, env: Mapping[str, str]) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        if _otlp_is_grpc(env):
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
                OTLPSpanExporter,
            )
        return OTLPSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER: unsupported exporter {name!r} (use otlp, console or none)")


def _metric_exporter(name: str, env: Mapping[str, str]) -> MetricExporter:
    if name == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        return ConsoleMetricExporter()
    if name == "otlp":
        if _otlp_is_grpc(env):
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[assignment]
                OTLPMetricExporter,
            )
        return OTLPMetricExporter()
    raise ValueError(f"OTEL_METRICS_EXPORTER: unsupported exporter {name!r} (use otlp, console or none)")


def configure_telemetry(service_name: str, env: Mapping[str, str] | None = None) -> Telemetry:
    """Install SDK providers for traces and metrics if the environment asks for them."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return Telemetry(enabled=False)
    trace_exporters = _exporter_names(env, "TRACES")
    metric_exporters = _exporter_names(env, "METRICS")
    if not trace_exporters and not metric_exporters:
        return Telemetry(enabled=False)

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override this default. Resource.create() alone
    # would not do: it fills in service.name=unknown_service, which would override ours.
    resource = Resource.create({SERVICE_NAME: service_name}).merge(OTELResourceDetector().detect())
    telemetry = Telemetry(enabled=True)
    if trace_exporters:
        tracer_provider = TracerProvider(resource=resource)
        for name in trace_exporters:
            tracer_provider.add_span_processor(BatchSpanProcessor(_span_exporter(name, env)))
        trace.set_tracer_provider(tracer_provider)
        telemetry.tracer_provider = tracer_provider
    if metric_exporters:
        readers = [PeriodicExportingMetricReader(_metric_exporter(n, env)) for n in metric_exporters]
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        metrics.set_meter_provider(meter_provider)
        telemetry.meter_provider = meter_provider
    telemetry.exporters = [f"traces:{n}" for n in trace_exporters] + [
        f"metrics:{n}" for n in metric_exporters
    ]
    log.info("telemetry on", extra={"exporters": telemetry.exporters})
    return telemetry
