"""OpenTelemetry setup: exporters from the standard `OTEL_*` variables, plus a Prometheus scrape port.

Off unless an exporter is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`, a signal-specific
endpoint, or `OTEL_TRACES_EXPORTER`/`OTEL_METRICS_EXPORTER`) or the service was given a metrics
port (`FOLIO_<SVC>_METRICS_PORT`); `OTEL_SDK_DISABLED=true` wins. Two deliberate deviations from
the specification: with no variable set, nothing is exported (its default is OTLP to localhost,
which on a laptop without a Collector would only log export failures), and
`OTEL_METRICS_EXPORTER=prometheus` serves on `OTEL_EXPORTER_PROMETHEUS_HOST`, else on the
service's own listen host rather than `localhost`, so a pod's scrape port is reachable wherever its
service is (the port: `OTEL_EXPORTER_PROMETHEUS_PORT`, else the metrics port, else 9464). A third,
for cost: with metrics only scraped and no `OTEL_METRICS_EXEMPLAR_FILTER`, the exemplar filter is
`always_off` (the Prometheus exporter carries no exemplars; the default filter would look at the
current span on every measurement).
`FOLIO_<SVC>_METRICS_PORT=N` is short for `OTEL_METRICS_EXPORTER=prometheus` on port N. The
sampler comes from `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, read by the SDK itself.

When off, the API's no-op providers stay in place and no instrumentation is installed, so an
unobserved laptop run pays nothing. When on, the standard instrumentations of the libraries every
service shares are installed here, once: httpx, and SQLAlchemy (engines made by
`folio_platform.database`, Folio's own: `sql_telemetry`) and redis-py where the service installed
them (the platform's `sql` and `redis` extras); gRPC calls are traced and measured by
`grpc_server`/`grpc_client` (`rpc_telemetry`), HTTP requests by the storefront's
`http_telemetry.HttpServerTelemetry`.
"""

import importlib.util
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

log = logging.getLogger(__name__)
PROMETHEUS = "prometheus"
# The specification's default port for the Prometheus exporter.
PROMETHEUS_PORT = 9464


@dataclass
class Telemetry:
    """What `configure_telemetry` set up; `enabled` tells services whether to instrument."""

    enabled: bool
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    exporters: list[str] = field(default_factory=list)
    # Where Prometheus scrapes this process (None: no scrape endpoint).
    metrics_port: int | None = None
    _metrics_server: Any = None

    def shutdown(self) -> None:
        """Flush what is buffered and close the scrape endpoint; call once on the way out."""
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
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
    raise ValueError(
        f"OTEL_METRICS_EXPORTER: unsupported exporter {name!r} (use otlp, prometheus, console or none)"
    )


def _prometheus_reader(host: str, port: int) -> tuple[MetricReader, Any]:
    """A reader serving the current metrics in Prometheus' text format on host:port, and its server."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=host)
    except OSError as error:
        raise OSError(f"cannot serve metrics on {host}:{port}: is the port already in use?") from error
    return PrometheusMetricReader(), server


def _prometheus_address(env: Mapping[str, str], host: str, port: int | None) -> tuple[str, int]:
    """Where to serve metrics: OTEL_EXPORTER_PROMETHEUS_HOST/PORT, else the service's own host and
    metrics port, else the specification's port 9464 (see the module docstring for the host)."""
    raw_port = env.get("OTEL_EXPORTER_PROMETHEUS_PORT") or (str(port) if port else str(PROMETHEUS_PORT))
    try:
        number = int(raw_port)
    except ValueError:
        raise ValueError(f"OTEL_EXPORTER_PROMETHEUS_PORT: {raw_port!r} is not a port number") from None
    if not 0 < number < 65536:
        raise ValueError(f"OTEL_EXPORTER_PROMETHEUS_PORT: {number} is not a port number (1-65535)")
    return env.get("OTEL_EXPORTER_PROMETHEUS_HOST") or host, number


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _instrument_libraries(
    tracer_provider: trace.TracerProvider | None = None, meter_provider: metrics.MeterProvider | None = None
) -> None:
    """The instrumentations of the shared libraries this service installed (idempotent): httpx's
    standard one always, redis-py's with the platform's `redis` extra, and with its `sql` extra
    Folio's own for SQLAlchemy (`folio_platform.sql_telemetry`: statements traced only inside a
    traced request, pool usage read when collected)."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    httpx = HTTPXClientInstrumentor()
    if not httpx.is_instrumented_by_opentelemetry:
        httpx.instrument()
    if _installed("opentelemetry.instrumentation.redis") and _installed("redis"):
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        redis = RedisInstrumentor()
        if not redis.is_instrumented_by_opentelemetry:
            redis.instrument()
    try:
        from folio_platform.sql_telemetry import SqlTelemetry
    except ImportError:  # no `sql` extra: a service without a database
        return
    SqlTelemetry.install(tracer_provider, meter_provider)


def configure_telemetry(
    service_name: str,
    env: Mapping[str, str] | None = None,
    *,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> Telemetry:
    """Install SDK providers for traces and metrics if the environment asks for them.

    With `metrics_port`, metrics are also served for Prometheus on metrics_host:metrics_port.
    Call it before creating database engines, so they are instrumented.
    """
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return Telemetry(enabled=False)
    trace_exporters = _exporter_names(env, "TRACES")
    metric_exporters = _exporter_names(env, "METRICS")
    if not trace_exporters and not metric_exporters and not metrics_port:
        return Telemetry(enabled=False)

    # The stable HTTP semantic conventions (http.server.request.duration in seconds, by http.route and
    # http.response.status_code), which the dashboards and SLO rules query, unless the operator chose.
    if env is os.environ:
        os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
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
    serve_prometheus = PROMETHEUS in metric_exporters or bool(metrics_port)
    metric_exporters = [n for n in metric_exporters if n != PROMETHEUS]
    readers: list[MetricReader] = [
        PeriodicExportingMetricReader(_metric_exporter(n, env)) for n in metric_exporters
    ]
    if serve_prometheus:
        host, port = _prometheus_address(env, metrics_host, metrics_port)
        reader, telemetry._metrics_server = _prometheus_reader(host, port)
        readers.append(reader)
        metric_exporters.append(f"prometheus@{host}:{port}")
        telemetry.metrics_port = port
    if readers:
        # Exemplars travel only over OTLP (the Prometheus exporter drops them): with Prometheus alone
        # and no OTEL_METRICS_EXEMPLAR_FILTER, the default trace_based filter would only cost a look
        # at the current span on every measurement.
        only_scraped = serve_prometheus and len(readers) == 1
        exemplars = (
            AlwaysOffExemplarFilter() if only_scraped and "OTEL_METRICS_EXEMPLAR_FILTER" not in env else None
        )
        meter_provider = MeterProvider(resource=resource, metric_readers=readers, exemplar_filter=exemplars)
        metrics.set_meter_provider(meter_provider)
        telemetry.meter_provider = meter_provider
    telemetry.exporters = [f"traces:{n}" for n in trace_exporters] + [
        f"metrics:{n}" for n in metric_exporters
    ]
    _instrument_libraries(telemetry.tracer_provider, telemetry.meter_provider)
    log.info("telemetry on", extra={"exporters": telemetry.exporters})
    return telemetry
