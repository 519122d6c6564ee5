"""SQL telemetry: a statement inside a traced request is a child span with the database's
attributes; a statement of a request that is not sampled, or outside any request, makes no span;
the pool's usage is read when metrics are collected."""

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from folio_platform.database import create_engine_for
from folio_platform.sql_telemetry import SqlTelemetry


@pytest.fixture
def observed() -> Iterator[tuple[SqlTelemetry, InMemorySpanExporter, InMemoryMetricReader]]:
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = SqlTelemetry(provider, MeterProvider(metric_readers=[reader]))
    telemetry._listen()
    try:
        yield telemetry, exporter, reader
    finally:
        from sqlalchemy import Engine, event

        for name, listener in (
            ("engine_connect", telemetry._seen),
            ("before_cursor_execute", telemetry._before),
            ("after_cursor_execute", telemetry._after),
            ("handle_error", telemetry._failed),
        ):
            event.remove(Engine, name, listener)


def test_statements_are_spans_only_inside_a_recording_span(observed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, exporter, reader = observed
    engine = create_engine_for(f"sqlite:///{tmp_path / 'probe.db'}")
    sampled = TracerProvider(sampler=ALWAYS_ON)
    unsampled = TracerProvider(sampler=ALWAYS_OFF)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))  # no request: no span
        with unsampled.get_tracer("t").start_as_current_span("GetBook"):
            connection.execute(text("SELECT 2"))  # a request not sampled: no span
        with sampled.get_tracer("t").start_as_current_span("GetBook") as request:
            connection.execute(text("SELECT 3"))
            with pytest.raises(OperationalError, match="no such table"):
                connection.execute(text("SELECT * FROM missing"))
        usage = {
            point.attributes["state"]: point.value  # type: ignore[index]
            for metric in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics  # type: ignore[union-attr]
            if metric.name == "db.client.connections.usage"
            for point in metric.data.data_points  # type: ignore[union-attr]
        }
    spans = exporter.get_finished_spans()
    assert [s.attributes["db.statement"] for s in spans] == ["SELECT 3", "SELECT * FROM missing"]  # type: ignore[index]
    for span in spans:
        assert span.kind == trace.SpanKind.CLIENT
        assert span.parent is not None
        assert span.parent.span_id == request.get_span_context().span_id
        assert dict(span.attributes or {}) == {
            "db.system": "sqlite",
            "db.name": str(tmp_path / "probe.db"),
            "db.statement": span.attributes["db.statement"],  # type: ignore[index]
        }
        assert span.name == f"SELECT {tmp_path / 'probe.db'}"
    assert spans[0].status.status_code == trace.StatusCode.UNSET
    assert spans[1].status.status_code == trace.StatusCode.ERROR
    assert spans[1].status.description == "no such table: missing"
    assert usage == {"used": 1, "idle": 0}
    engine.dispose()
